;; float64 kernels in wasm SIMD (f64x2) for FID's linear algebra: the product C += alpha·A Bᵀ
;; on packed operands and one fused pass of the Householder tridiagonalisation. Assembled by
;; scripts/build-simd.mjs into f64-kernels.generated.ts. The memory is shared, so that a helper
;; thread can take half of the rows; pointers are byte offsets, strides and counts are elements.
(module
  (import "env" "memory" (memory 1 32768 shared))

  (func $hsum (param $v v128) (result f64)
    (f64.add (f64x2.extract_lane 0 (local.get $v)) (f64x2.extract_lane 1 (local.get $v))))

  (func $addto (param $p i32) (param $v f64)
    (f64.store (local.get $p) (f64.add (f64.load (local.get $p)) (local.get $v))))

  ;; One full 2 x 4 tile of gemm_packed: pa, pb at the tile's first t pair, pa running to end; adds
  ;; alpha·dots to c0[0..4) and c1[0..4). A function of its own so that V8 compiles it optimised
  ;; after a few calls (one long call of a big function would stay in the baseline tier).
  (func $ptile (param $pa i32) (param $pb i32) (param $end i32) (param $c0 i32) (param $c1 i32) (param $alpha f64)
    (local $x0 v128) (local $x1 v128) (local $y v128)
    (local $s00 v128) (local $s01 v128) (local $s02 v128) (local $s03 v128)
    (local $s10 v128) (local $s11 v128) (local $s12 v128) (local $s13 v128)
    ;; (wasm locals start at zero: the sums need no reset)
    (block $tdone (loop $tloop
      (br_if $tdone (i32.ge_u (local.get $pa) (local.get $end)))
      (local.set $x0 (v128.load (local.get $pa)))
      (local.set $x1 (v128.load offset=16 (local.get $pa)))
      (local.set $y (v128.load (local.get $pb)))
      (local.set $s00 (f64x2.add (local.get $s00) (f64x2.mul (local.get $x0) (local.get $y))))
      (local.set $s10 (f64x2.add (local.get $s10) (f64x2.mul (local.get $x1) (local.get $y))))
      (local.set $y (v128.load offset=16 (local.get $pb)))
      (local.set $s01 (f64x2.add (local.get $s01) (f64x2.mul (local.get $x0) (local.get $y))))
      (local.set $s11 (f64x2.add (local.get $s11) (f64x2.mul (local.get $x1) (local.get $y))))
      (local.set $y (v128.load offset=32 (local.get $pb)))
      (local.set $s02 (f64x2.add (local.get $s02) (f64x2.mul (local.get $x0) (local.get $y))))
      (local.set $s12 (f64x2.add (local.get $s12) (f64x2.mul (local.get $x1) (local.get $y))))
      (local.set $y (v128.load offset=48 (local.get $pb)))
      (local.set $s03 (f64x2.add (local.get $s03) (f64x2.mul (local.get $x0) (local.get $y))))
      (local.set $s13 (f64x2.add (local.get $s13) (f64x2.mul (local.get $x1) (local.get $y))))
      (local.set $pa (i32.add (local.get $pa) (i32.const 32)))
      (local.set $pb (i32.add (local.get $pb) (i32.const 64)))
      (br $tloop)))
    (local.set $pb (local.get $c0))
    (call $addto (local.get $pb) (f64.mul (local.get $alpha) (call $hsum (local.get $s00))))
    (call $addto (i32.add (local.get $pb) (i32.const 8)) (f64.mul (local.get $alpha) (call $hsum (local.get $s01))))
    (call $addto (i32.add (local.get $pb) (i32.const 16)) (f64.mul (local.get $alpha) (call $hsum (local.get $s02))))
    (call $addto (i32.add (local.get $pb) (i32.const 24)) (f64.mul (local.get $alpha) (call $hsum (local.get $s03))))
    (local.set $pb (local.get $c1))
    (call $addto (local.get $pb) (f64.mul (local.get $alpha) (call $hsum (local.get $s10))))
    (call $addto (i32.add (local.get $pb) (i32.const 8)) (f64.mul (local.get $alpha) (call $hsum (local.get $s11))))
    (call $addto (i32.add (local.get $pb) (i32.const 16)) (f64.mul (local.get $alpha) (call $hsum (local.get $s12))))
    (call $addto (i32.add (local.get $pb) (i32.const 24)) (f64.mul (local.get $alpha) (call $hsum (local.get $s13))))
  )

  ;; The product on packed operands, C += alpha·A Bᵀ: A as row pairs, for each pair of t the four
  ;; values A[i][t], A[i][t+1], A[i+1][t], A[i+1][t+1]; B as groups of four rows, eight values per
  ;; pair of t. The caller pads m to even, n to a multiple of 4, k to even, with zeros, so every
  ;; tile is a full 2 x 4 and both operands stream through one pointer each. flags: 1 = only
  ;; j <= i0 + i (a symmetric C; tiles crossing the diagonal are computed whole, the caller reads
  ;; the lower part), 2 = A[i][t] is zero for t < i0 + i (a triangular factor: skipped). i0 is the
  ;; global index of the first row, when a thread takes a band. Blocked over t (1024) and j (128)
  ;; so the operands in flight stay in L2 (measured on 2048-d products, two threads: 256 x 64
  ;; blocks ran at ~6 GFMA/s, 1024 x 128 at ~8.5; packing the operands brought it to ~10).
  (func (export "gemm_packed") (param $ap i32) (param $bp i32) (param $c i32) (param $ldc i32)
    (param $m i32) (param $n i32) (param $k i32) (param $alpha f64) (param $flags i32) (param $i0 i32)
    (local $k0 i32) (local $kl i32) (local $j0 i32) (local $j1 i32) (local $i i32) (local $gi i32) (local $ks i32) (local $jEnd i32)
    (local $g i32) (local $pa i32) (local $pb i32) (local $c0 i32) (local $c1 i32) (local $lower i32) (local $upper i32)
    (local.set $lower (i32.and (local.get $flags) (i32.const 1)))
    (local.set $upper (i32.and (i32.shr_u (local.get $flags) (i32.const 1)) (i32.const 1)))
    (block $kdone (loop $kloop
      (br_if $kdone (i32.ge_s (local.get $k0) (local.get $k)))
      (local.set $kl (select (i32.const 1024) (i32.sub (local.get $k) (local.get $k0)) (i32.lt_s (i32.const 1024) (i32.sub (local.get $k) (local.get $k0)))))
      (local.set $j0 (i32.const 0))
      (block $jdone (loop $jloop
        (br_if $jdone (i32.ge_s (local.get $j0) (local.get $n)))
        (local.set $j1 (select (i32.add (local.get $j0) (i32.const 128)) (local.get $n) (i32.lt_s (i32.add (local.get $j0) (i32.const 128)) (local.get $n))))
        (local.set $i (i32.const 0))
        (block $idone (loop $iloop
          (br_if $idone (i32.ge_s (local.get $i) (local.get $m)))
          (local.set $gi (i32.add (local.get $i0) (local.get $i)))
          (local.set $ks (local.get $k0))
          (if (i32.and (local.get $upper) (i32.gt_s (local.get $gi) (local.get $k0))) (then (local.set $ks (local.get $gi))))
          (local.set $jEnd (local.get $j1))
          ;; lower: up to column gi+1, rounded up to a whole group of four
          (if (local.get $lower) (then
            (if (i32.lt_s (i32.and (i32.add (local.get $gi) (i32.const 5)) (i32.const -4)) (local.get $jEnd))
              (then (local.set $jEnd (i32.and (i32.add (local.get $gi) (i32.const 5)) (i32.const -4)))))))
          (if (i32.lt_s (local.get $ks) (i32.add (local.get $k0) (local.get $kl))) (then
            (local.set $c0 (i32.add (local.get $c) (i32.shl (i32.mul (local.get $i) (local.get $ldc)) (i32.const 3))))
            (local.set $c1 (i32.add (local.get $c0) (i32.shl (local.get $ldc) (i32.const 3))))
            (local.set $g (local.get $j0))
            (block $gdone (loop $gloop
              (br_if $gdone (i32.ge_s (local.get $g) (local.get $jEnd)))
              ;; pair i/2 at t = ks: (i/2)·2k + 2·ks doubles; group g/4 at ks: (g/4)·4k + 4·ks doubles
              (local.set $pa (i32.add (local.get $ap) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $k)) (i32.shl (local.get $ks) (i32.const 1))) (i32.const 3))))
              (local.set $pb (i32.add (local.get $bp) (i32.shl (i32.add (i32.mul (local.get $g) (local.get $k)) (i32.shl (local.get $ks) (i32.const 2))) (i32.const 3))))
              (call $ptile (local.get $pa) (local.get $pb)
                (i32.add (local.get $pa) (i32.shl (i32.sub (i32.add (local.get $k0) (local.get $kl)) (local.get $ks)) (i32.const 4)))
                (i32.add (local.get $c0) (i32.shl (local.get $g) (i32.const 3))) (i32.add (local.get $c1) (i32.shl (local.get $g) (i32.const 3))) (local.get $alpha))
              (local.set $g (i32.add (local.get $g) (i32.const 4)))
              (br $gloop)))))
          (local.set $i (i32.add (local.get $i) (i32.const 2)))
          (br $iloop)))
        (local.set $j0 (local.get $j1))
        (br $jloop)))
      (local.set $k0 (i32.add (local.get $k0) (local.get $kl)))
      (br $kloop))))

  ;; One pass of the tridiagonalisation over rows i in [lo, hi) of the lower triangle of the n x n
  ;; matrix at $a: apply the previous step's A -= v qᵀ + q vᵀ to columns [from, i], and with the
  ;; updated entries accumulate p += A w (p zeroed by the caller): one read and write of the
  ;; trailing matrix per step instead of two.
  ;; (from <= lo): a band of rows, so that two threads can share a pass, each with its own p.
  (func (export "tri_pass") (param $a i32) (param $n i32) (param $from i32) (param $lo i32) (param $hi i32) (param $v i32) (param $q i32) (param $w i32) (param $p i32)
    (local $i i32) (local $row i32) (local $t i32) (local $end i32) (local $start i32)
    (local $vi v128) (local $qi v128) (local $wi v128) (local $x v128) (local $s v128)
    (local $sv f64) (local $xs f64) (local $pp i32)
    (local.set $i (local.get $lo))
    (local.set $start (i32.shl (local.get $from) (i32.const 3)))
    (block $done (loop $rows
      (br_if $done (i32.ge_s (local.get $i) (local.get $hi)))
      (local.set $row (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $n)) (i32.const 3))))
      (local.set $vi (f64x2.splat (f64.load (i32.add (local.get $v) (i32.shl (local.get $i) (i32.const 3))))))
      (local.set $qi (f64x2.splat (f64.load (i32.add (local.get $q) (i32.shl (local.get $i) (i32.const 3))))))
      (local.set $wi (f64x2.splat (f64.load (i32.add (local.get $w) (i32.shl (local.get $i) (i32.const 3))))))
      (local.set $s (f64x2.splat (f64.const 0)))
      (local.set $sv (f64.const 0))
      (local.set $t (local.get $start))
      ;; columns [from, i): pairs, then a last single
      (local.set $end (i32.shl (local.get $i) (i32.const 3)))
      (block $pdone (loop $pairs
        (br_if $pdone (i32.gt_s (i32.add (local.get $t) (i32.const 16)) (local.get $end)))
        (local.set $x (f64x2.sub (f64x2.sub (v128.load (i32.add (local.get $row) (local.get $t)))
          (f64x2.mul (local.get $vi) (v128.load (i32.add (local.get $q) (local.get $t)))))
          (f64x2.mul (local.get $qi) (v128.load (i32.add (local.get $v) (local.get $t))))))
        (v128.store (i32.add (local.get $row) (local.get $t)) (local.get $x))
        (local.set $s (f64x2.add (local.get $s) (f64x2.mul (local.get $x) (v128.load (i32.add (local.get $w) (local.get $t))))))
        (local.set $pp (i32.add (local.get $p) (local.get $t)))
        (v128.store (local.get $pp) (f64x2.add (v128.load (local.get $pp)) (f64x2.mul (local.get $x) (local.get $wi))))
        (local.set $t (i32.add (local.get $t) (i32.const 16)))
        (br $pairs)))
      (if (i32.lt_s (local.get $t) (local.get $end)) (then
        (local.set $xs (f64.sub (f64.sub (f64.load (i32.add (local.get $row) (local.get $t)))
          (f64.mul (f64x2.extract_lane 0 (local.get $vi)) (f64.load (i32.add (local.get $q) (local.get $t)))))
          (f64.mul (f64x2.extract_lane 0 (local.get $qi)) (f64.load (i32.add (local.get $v) (local.get $t))))))
        (f64.store (i32.add (local.get $row) (local.get $t)) (local.get $xs))
        (local.set $sv (f64.mul (local.get $xs) (f64.load (i32.add (local.get $w) (local.get $t)))))
        (call $addto (i32.add (local.get $p) (local.get $t)) (f64.mul (local.get $xs) (f64x2.extract_lane 0 (local.get $wi))))
        (local.set $t (i32.add (local.get $t) (i32.const 8)))))
      ;; the diagonal
      (local.set $xs (f64.sub (f64.load (i32.add (local.get $row) (local.get $end)))
        (f64.mul (f64.const 2) (f64.mul (f64x2.extract_lane 0 (local.get $vi)) (f64x2.extract_lane 0 (local.get $qi))))))
      (f64.store (i32.add (local.get $row) (local.get $end)) (local.get $xs))
      (call $addto (i32.add (local.get $p) (local.get $end))
        (f64.add (f64.add (call $hsum (local.get $s)) (local.get $sv)) (f64.mul (local.get $xs) (f64x2.extract_lane 0 (local.get $wi)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows))))
)
