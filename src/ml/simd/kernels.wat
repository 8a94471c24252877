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
)
