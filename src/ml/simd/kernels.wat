;; Elementwise kernels in wasm SIMD (f32x4) over the tfjs wasm backend's own memory.
;; tfjs-backend-wasm runs Erf and Exp as scalar loops (about 10-16 ns an element here); these run
;; four lanes at a time. Assembled by scripts/build-simd.mjs into kernels.generated.ts.
;; All pointers are byte offsets into the imported memory; n is an element count.
(module
  (import "env" "memory" (memory 0))

  ;; Φ(x) = 0.5 + 0.5·erf(x/√2). erf is the float32 rational approximation of Eigen and XNNPACK
  ;; on [-4, 4] (clamped outside, where float32 erf is ±1).
  (func $cdf (param $x v128) (result v128)
    (local $z v128) (local $z2 v128) (local $p v128) (local $q v128)
    (local.set $z (f32x4.mul (local.get $x) (f32x4.splat (f32.const 0.70710678118654752))))
    (local.set $z (f32x4.max (f32x4.min (local.get $z) (f32x4.splat (f32.const 4))) (f32x4.splat (f32.const -4))))
    (local.set $z2 (f32x4.mul (local.get $z) (local.get $z)))
    (local.set $p (f32x4.splat (f32.const -2.72614225801306e-10)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $z2)) (f32x4.splat (f32.const 2.77068142495902e-08))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $z2)) (f32x4.splat (f32.const -2.10102402082508e-06))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $z2)) (f32x4.splat (f32.const -5.69250639462346e-05))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $z2)) (f32x4.splat (f32.const -7.34990630326855e-04))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $z2)) (f32x4.splat (f32.const -2.95459980854025e-03))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $z2)) (f32x4.splat (f32.const -1.60960333262415e-02))))
    (local.set $q (f32x4.splat (f32.const -1.45660718464996e-05)))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $z2)) (f32x4.splat (f32.const -2.13374055278905e-04))))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $z2)) (f32x4.splat (f32.const -1.68282697438203e-03))))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $z2)) (f32x4.splat (f32.const -7.37332916720468e-03))))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $z2)) (f32x4.splat (f32.const -1.42647390514189e-02))))
    (f32x4.add
      (f32x4.mul (f32x4.div (f32x4.mul (local.get $z) (local.get $p)) (local.get $q)) (f32x4.splat (f32.const 0.5)))
      (f32x4.splat (f32.const 0.5))))

  ;; e^t for t <= 0 (clamped at -87): Cephes expf, 2^k·P(r) with r = t − k·ln2 in two parts.
  (func $exp_nonpositive (param $t v128) (result v128)
    (local $k v128) (local $r v128) (local $p v128)
    (local.set $t (f32x4.max (local.get $t) (f32x4.splat (f32.const -87))))
    (local.set $k (f32x4.nearest (f32x4.mul (local.get $t) (f32x4.splat (f32.const 1.44269504088896341)))))
    (local.set $r (f32x4.sub (local.get $t) (f32x4.mul (local.get $k) (f32x4.splat (f32.const 0.693359375)))))
    (local.set $r (f32x4.add (local.get $r) (f32x4.mul (local.get $k) (f32x4.splat (f32.const 2.12194440e-4)))))
    (local.set $p (f32x4.splat (f32.const 1.9875691500e-4)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1.3981999507e-3))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 8.3334519073e-3))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 4.1665795894e-2))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1.6666665459e-1))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 5.0000001201e-1))))
    (local.set $p (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $p) (local.get $r)) (local.get $r)) (local.get $r)) (f32x4.splat (f32.const 1))))
    ;; 2^k as float bits: (k + 127) << 23; k >= -126 here, so the result is a normal float.
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (i32x4.splat (i32.const 127))) (i32.const 23))))

  ;; GELU slope: Φ(x) + x·φ(x), given Φ(x).
  (func $slope (param $x v128) (param $cdf v128) (result v128)
    (f32x4.add (local.get $cdf)
      (f32x4.mul
        (f32x4.mul (local.get $x) (f32x4.splat (f32.const 0.39894228040143268)))
        (call $exp_nonpositive (f32x4.mul (f32x4.mul (local.get $x) (local.get $x)) (f32x4.splat (f32.const -0.5)))))))

  ;; y = x·Φ(x) and, when $d is not 0, d = the slope. The last n mod 4 elements go through the same
  ;; vector code one lane at a time, so every element gets the same arithmetic.
  (func (export "gelu") (param $x i32) (param $y i32) (param $d i32) (param $n i32)
    (local $i i32) (local $end i32) (local $v v128) (local $c v128)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $vec_done
      (loop $vec
        (br_if $vec_done (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $end)))
        (local.set $v (v128.load align=4 (i32.add (local.get $x) (local.get $i))))
        (local.set $c (call $cdf (local.get $v)))
        (v128.store align=4 (i32.add (local.get $y) (local.get $i)) (f32x4.mul (local.get $v) (local.get $c)))
        (if (local.get $d)
          (then (v128.store align=4 (i32.add (local.get $d) (local.get $i)) (call $slope (local.get $v) (local.get $c)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $vec)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $v (f32x4.splat (f32.load (i32.add (local.get $x) (local.get $i)))))
        (local.set $c (call $cdf (local.get $v)))
        (f32.store (i32.add (local.get $y) (local.get $i)) (f32x4.extract_lane 0 (f32x4.mul (local.get $v) (local.get $c))))
        (if (local.get $d)
          (then (f32.store (i32.add (local.get $d) (local.get $i)) (f32x4.extract_lane 0 (call $slope (local.get $v) (local.get $c))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail))))
  ;; Horizontal sum of four lanes, (l0 + l1) + (l2 + l3).
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; LayerNorm over rows of $d floats ($d a multiple of 4): rstd = 1/sqrt(var + eps),
  ;; xhat = (x − mean)·rstd, y = xhat·scale + bias. xhat (skipped when 0) and rstd are what the
  ;; backward pass needs.
  (func (export "layer_norm")
    (param $x i32) (param $scale i32) (param $bias i32) (param $y i32) (param $xhat i32) (param $rstd i32)
    (param $rows i32) (param $d i32) (param $eps f32)
    (local $r i32) (local $row i32) (local $j i32) (local $bytes i32) (local $at i32)
    (local $acc v128) (local $m v128) (local $c v128) (local $s v128) (local $rs f32)
    (local.set $bytes (i32.shl (local.get $d) (i32.const 2)))
    (block $done (loop $each_row
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $row (i32.mul (local.get $r) (local.get $bytes)))
      (local.set $acc (v128.const f32x4 0 0 0 0))
      (local.set $j (i32.const 0))
      (block $b1 (loop $l1
        (br_if $b1 (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $acc (f32x4.add (local.get $acc) (v128.load align=4 (i32.add (local.get $x) (i32.add (local.get $row) (local.get $j))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l1)))
      (local.set $m (f32x4.splat (f32.div (call $hsum (local.get $acc)) (f32.convert_i32_u (local.get $d)))))
      (local.set $acc (v128.const f32x4 0 0 0 0))
      (local.set $j (i32.const 0))
      (block $b2 (loop $l2
        (br_if $b2 (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $c (f32x4.sub (v128.load align=4 (i32.add (local.get $x) (i32.add (local.get $row) (local.get $j)))) (local.get $m)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $c) (local.get $c))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l2)))
      (local.set $rs (f32.div (f32.const 1)
        (f32.sqrt (f32.add (f32.div (call $hsum (local.get $acc)) (f32.convert_i32_u (local.get $d))) (local.get $eps)))))
      (f32.store (i32.add (local.get $rstd) (i32.shl (local.get $r) (i32.const 2))) (local.get $rs))
      (local.set $s (f32x4.splat (local.get $rs)))
      (local.set $j (i32.const 0))
      (block $b3 (loop $l3
        (br_if $b3 (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $at (i32.add (local.get $row) (local.get $j)))
        (local.set $c (f32x4.mul (f32x4.sub (v128.load align=4 (i32.add (local.get $x) (local.get $at))) (local.get $m)) (local.get $s)))
        (if (local.get $xhat) (then (v128.store align=4 (i32.add (local.get $xhat) (local.get $at)) (local.get $c))))
        (v128.store align=4 (i32.add (local.get $y) (local.get $at))
          (f32x4.add
            (f32x4.mul (local.get $c) (v128.load align=4 (i32.add (local.get $scale) (local.get $j))))
            (v128.load align=4 (i32.add (local.get $bias) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l3)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $each_row))))

  ;; LayerNorm backward: with g = dy·scale, dx = rstd·(g − mean(g) − xhat·mean(g·xhat)).
  ;; When $dscale is not 0 it also writes dscale = Σ_rows dy·xhat and dbias = Σ_rows dy.
  (func (export "layer_norm_grad")
    (param $dy i32) (param $xhat i32) (param $rstd i32) (param $scale i32) (param $dx i32) (param $dscale i32) (param $dbias i32)
    (param $rows i32) (param $d i32)
    (local $r i32) (local $row i32) (local $j i32) (local $bytes i32) (local $at i32)
    (local $sg v128) (local $sgx v128) (local $g v128) (local $xh v128) (local $dyv v128)
    (local $mg v128) (local $mgx v128) (local $s v128) (local $inv f32)
    (local.set $bytes (i32.shl (local.get $d) (i32.const 2)))
    (local.set $inv (f32.div (f32.const 1) (f32.convert_i32_u (local.get $d))))
    (if (local.get $dscale) (then
      (block $z (loop $lz
        (br_if $z (i32.ge_u (local.get $j) (local.get $bytes)))
        (v128.store align=4 (i32.add (local.get $dscale) (local.get $j)) (v128.const f32x4 0 0 0 0))
        (v128.store align=4 (i32.add (local.get $dbias) (local.get $j)) (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $lz)))))
    (block $done (loop $each_row
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $row (i32.mul (local.get $r) (local.get $bytes)))
      (local.set $sg (v128.const f32x4 0 0 0 0))
      (local.set $sgx (v128.const f32x4 0 0 0 0))
      (local.set $j (i32.const 0))
      (block $b1 (loop $l1
        (br_if $b1 (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $at (i32.add (local.get $row) (local.get $j)))
        (local.set $g (f32x4.mul (v128.load align=4 (i32.add (local.get $dy) (local.get $at))) (v128.load align=4 (i32.add (local.get $scale) (local.get $j)))))
        (local.set $sg (f32x4.add (local.get $sg) (local.get $g)))
        (local.set $sgx (f32x4.add (local.get $sgx) (f32x4.mul (local.get $g) (v128.load align=4 (i32.add (local.get $xhat) (local.get $at))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l1)))
      (local.set $mg (f32x4.splat (f32.mul (call $hsum (local.get $sg)) (local.get $inv))))
      (local.set $mgx (f32x4.splat (f32.mul (call $hsum (local.get $sgx)) (local.get $inv))))
      (local.set $s (f32x4.splat (f32.load (i32.add (local.get $rstd) (i32.shl (local.get $r) (i32.const 2))))))
      (local.set $j (i32.const 0))
      (block $b2 (loop $l2
        (br_if $b2 (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $at (i32.add (local.get $row) (local.get $j)))
        (local.set $dyv (v128.load align=4 (i32.add (local.get $dy) (local.get $at))))
        (local.set $xh (v128.load align=4 (i32.add (local.get $xhat) (local.get $at))))
        (local.set $g (f32x4.mul (local.get $dyv) (v128.load align=4 (i32.add (local.get $scale) (local.get $j)))))
        (v128.store align=4 (i32.add (local.get $dx) (local.get $at))
          (f32x4.mul (f32x4.sub (f32x4.sub (local.get $g) (local.get $mg)) (f32x4.mul (local.get $xh) (local.get $mgx))) (local.get $s)))
        (if (local.get $dscale) (then
          (v128.store align=4 (i32.add (local.get $dscale) (local.get $j))
            (f32x4.add (v128.load align=4 (i32.add (local.get $dscale) (local.get $j))) (f32x4.mul (local.get $dyv) (local.get $xh))))
          (v128.store align=4 (i32.add (local.get $dbias) (local.get $j))
            (f32x4.add (v128.load align=4 (i32.add (local.get $dbias) (local.get $j))) (local.get $dyv)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l2)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $each_row))))
  ;; Column sums of x [rows, d] ($d a multiple of 4) into out [d], rows in order. (On the backend this
  ;; was ones[1, rows] @ x, which packs all of x as matMul weights on every call.)
  (func (export "col_sum") (param $x i32) (param $out i32) (param $rows i32) (param $d i32)
    (local $r i32) (local $j i32) (local $bytes i32) (local $row i32)
    (local.set $bytes (i32.shl (local.get $d) (i32.const 2)))
    (block $z (loop $lz
      (br_if $z (i32.ge_u (local.get $j) (local.get $bytes)))
      (v128.store align=4 (i32.add (local.get $out) (local.get $j)) (v128.const f32x4 0 0 0 0))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $lz)))
    (block $done (loop $each_row
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $row (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $bytes))))
      (local.set $j (i32.const 0))
      (block $b (loop $l
        (br_if $b (i32.ge_u (local.get $j) (local.get $bytes)))
        (v128.store align=4 (i32.add (local.get $out) (local.get $j))
          (f32x4.add (v128.load align=4 (i32.add (local.get $out) (local.get $j))) (v128.load align=4 (i32.add (local.get $row) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $each_row))))

  ;; Inverted dropout: mask[i] = 1/keep or 0 from the xorshift32 stream of `dropoutMask` in
  ;; layers.ts (the same values on every backend), y = x·mask. The mask is kept for the backward pass.
  (func (export "dropout") (param $x i32) (param $y i32) (param $mask i32) (param $n i32) (param $seed i32) (param $threshold i32) (param $scale f32)
    (local $i i32) (local $end i32) (local $s i32) (local $m f32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $s (local.get $seed))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $s (i32.xor (local.get $s) (i32.shl (local.get $s) (i32.const 13))))
      (local.set $s (i32.xor (local.get $s) (i32.shr_u (local.get $s) (i32.const 17))))
      (local.set $s (i32.xor (local.get $s) (i32.shl (local.get $s) (i32.const 5))))
      (local.set $m (select (local.get $scale) (f32.const 0) (i32.lt_u (local.get $s) (local.get $threshold))))
      (f32.store (i32.add (local.get $mask) (local.get $i)) (local.get $m))
      (f32.store (i32.add (local.get $y) (local.get $i)) (f32.mul (f32.load (i32.add (local.get $x) (local.get $i))) (local.get $m)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l))))

  ;; Softmax backward over rows of $t (any $t): dx = y·(dy − Σ dy·y). The row sum runs over four
  ;; lanes then the tail, in a fixed order.
  (func (export "softmax_grad") (param $y i32) (param $dy i32) (param $dx i32) (param $rows i32) (param $t i32)
    (local $r i32) (local $j i32) (local $bytes i32) (local $vec_end i32) (local $row i32) (local $acc v128) (local $sum f32) (local $sv v128)
    (local.set $bytes (i32.shl (local.get $t) (i32.const 2)))
    (local.set $vec_end (i32.and (local.get $bytes) (i32.const -16)))
    (block $done (loop $each_row
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $row (i32.mul (local.get $r) (local.get $bytes)))
      (local.set $acc (v128.const f32x4 0 0 0 0))
      (local.set $j (i32.const 0))
      (block $b1 (loop $l1
        (br_if $b1 (i32.ge_u (local.get $j) (local.get $vec_end)))
        (local.set $acc (f32x4.add (local.get $acc)
          (f32x4.mul (v128.load align=4 (i32.add (local.get $y) (i32.add (local.get $row) (local.get $j))))
                     (v128.load align=4 (i32.add (local.get $dy) (i32.add (local.get $row) (local.get $j)))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l1)))
      (local.set $sum (call $hsum (local.get $acc)))
      (block $b2 (loop $l2
        (br_if $b2 (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $sum (f32.add (local.get $sum)
          (f32.mul (f32.load (i32.add (local.get $y) (i32.add (local.get $row) (local.get $j))))
                   (f32.load (i32.add (local.get $dy) (i32.add (local.get $row) (local.get $j)))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $l2)))
      (local.set $sv (f32x4.splat (local.get $sum)))
      (local.set $j (i32.const 0))
      (block $b3 (loop $l3
        (br_if $b3 (i32.ge_u (local.get $j) (local.get $vec_end)))
        (v128.store align=4 (i32.add (local.get $dx) (i32.add (local.get $row) (local.get $j)))
          (f32x4.mul (v128.load align=4 (i32.add (local.get $y) (i32.add (local.get $row) (local.get $j))))
            (f32x4.sub (v128.load align=4 (i32.add (local.get $dy) (i32.add (local.get $row) (local.get $j)))) (local.get $sv))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l3)))
      (block $b4 (loop $l4
        (br_if $b4 (i32.ge_u (local.get $j) (local.get $bytes)))
        (f32.store (i32.add (local.get $dx) (i32.add (local.get $row) (local.get $j)))
          (f32.mul (f32.load (i32.add (local.get $y) (i32.add (local.get $row) (local.get $j))))
            (f32.sub (f32.load (i32.add (local.get $dy) (i32.add (local.get $row) (local.get $j)))) (local.get $sum))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $l4)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $each_row))))
)
