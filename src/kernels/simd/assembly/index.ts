/**
 * The SIMD kernels (AssemblyScript → WebAssembly, f64x2): value and gradient of the residual
 * network. The loader, ../index.ts, owns the memory layout; this module only reads and writes the
 * addresses it is given.
 *
 * `run` takes points in chunks of B (a multiple of 4), held feature-major with two points per
 * vector: Z[i][p] at Z + 8·(i·B + p). Per layer, pre = W_k Z + b_k is a d×d by d×B product in
 * register blocks of 4 rows × 4 points; the forward pass stores S_k = h·σ′(pre), and the backward
 * pass forms U = S_k ⊙ A and adds W_kᵀU to A. `runOne` takes a single point with its features
 * two to a vector. Every sum runs in the reference's order (from 0, over j or i ascending) and no
 * operation is fused, so a point gets the same bits in either kernel, any lane and any batch.
 */

// ---- tanh and exp --------------------------------------------------------------------------------

const SMALL: f64 = 0.55;
const LARGE: f64 = 19.1;
const ROUND: f64 = 6755399441055744.0;
const EXP_MIN: f64 = -746.0;
const EXP_MAX: f64 = 710.0;

// (tanh x − x)/x³ on |x| < 0.55 as a polynomial in x², degree 10 (Chebyshev fit, error 8e-18).
const P0: f64 = -0.3333333333333333;
const P1: f64 = 0.13333333333332714;
const P2: f64 = -0.053968253967434016;
const P3: f64 = 0.021869488493666944;
const P4: f64 = -0.008863234397814355;
const P5: f64 = 0.003592110378689024;
const P6: f64 = -0.001455661830100716;
const P7: f64 = 0.0005889360520074057;
const P8: f64 = -0.0002346347410887237;
const P9: f64 = 8.511313685577672e-5;
const P10: f64 = -2.060276537636634e-5;

const INV_LN2_64: f64 = 92.33248261689366;
// ln 2 / 64 in two parts (Cody–Waite): the high part has 32 trailing zero bits, so k·LN2_64_HI is exact.
const LN2_64_HI: f64 = 0.010830417275428772;
const LN2_64_LO: f64 = 7.420820373486988e-9;
const C2: f64 = 0.5;
const C3: f64 = 0.16666666666666666;
const C4: f64 = 0.041666666666666664;
const C5: f64 = 0.008333333333333333;

/** 2^(j/64), j = 0 … 63. */
const POW2_64: usize = memory.data<f64>([1.0, 1.0108892860517005, 1.0218971486541166, 1.0330248790212284, 1.0442737824274138, 1.0556451783605572, 1.0671404006768237, 1.0787607977571199, 1.0905077326652577, 1.102382583307841, 1.1143867425958924, 1.1265216186082418, 1.1387886347566916, 1.1511892299529827, 1.1637248587775775, 1.1763969916502812, 1.189207115002721, 1.202156731452703, 1.215247359980469, 1.22848053610687, 1.241857812073484, 1.255380757024691, 1.2690509571917332, 1.2828700160787783, 1.2968395546510096, 1.3109612115247644, 1.3252366431597413, 1.339667524053303, 1.3542555469368927, 1.3690024229745905, 1.383909881963832, 1.3989796725383112, 1.4142135623730951, 1.42961333839197, 1.4451808069770467, 1.460917794180647, 1.4768261459394993, 1.4929077282912648, 1.5091644275934228, 1.5255981507445384, 1.5422108254079407, 1.559004400237837, 1.5759808451078865, 1.593142151342267, 1.6104903319492543, 1.6280274218573478, 1.645755478153965, 1.6636765803267364, 1.681792830507429, 1.7001063537185235, 1.718619298122478, 1.7373338352737062, 1.7562521603732995, 1.7753764925265212, 1.7947090750031072, 1.8142521755003989, 1.8340080864093424, 1.8539791250833855, 1.8741676341103, 1.8945759815869656, 1.9152065613971474, 1.9360617934922943, 1.9571441241754002, 1.978456026387951], 16);

const SIGN: v128 = i64x2(-0x8000000000000000, -0x8000000000000000);

@inline function sp(x: f64): v128 {
  return f64x2.splat(x);
}

/**
 * e^y for y in [−1075, 1024], as 2^m·2^(j/64)·e^r with y = (64m + j)·ln2/64 + r, |r| ≤ ln2/128:
 * the table entry by lane, e^r − 1 by its Taylor polynomial of degree 5 (remainder below 4e-17).
 * 2^m is applied in two exact halves, so that it overflows to Infinity or underflows to 0 only
 * when the result does; with `small` (y known to be in [0, 64)), in one.
 */
@inline function expTable(y: v128, small: bool): v128 {
  const kf = f64x2.add(f64x2.mul(y, sp(INV_LN2_64)), sp(ROUND));
  const k = f64x2.sub(kf, sp(ROUND));
  const r = f64x2.sub(f64x2.sub(y, f64x2.mul(k, sp(LN2_64_HI))), f64x2.mul(k, sp(LN2_64_LO)));
  const bits = i64x2.sub(kf, i64x2.splat(reinterpret<i64>(ROUND)));
  const j = v128.and(bits, i64x2.splat(63));
  const t = v128.load64_lane(
    POW2_64 + (<usize>i64x2.extract_lane(j, 1) << 3),
    v128.load64_zero(POW2_64 + (<usize>i64x2.extract_lane(j, 0) << 3)),
    1,
  );
  const r2 = f64x2.mul(r, r);
  const q = f64x2.add(r, f64x2.mul(r2, f64x2.add(f64x2.add(sp(C2), f64x2.mul(sp(C3), r)), f64x2.mul(r2, f64x2.add(sp(C4), f64x2.mul(sp(C5), r))))));
  const mantissa = f64x2.add(t, f64x2.mul(t, q));
  if (small) {
    // y in [0, 64): m = bits >> 6 is in [0, 92], so one scale 2^m, made with the logical shift
    // (one instruction where the arithmetic one is several), gives the two halves' very bits.
    return f64x2.mul(mantissa, i64x2.shl(i64x2.add(i64x2.shr_u(bits, 6), i64x2.splat(1023)), 52));
  }
  const m = i64x2.shr_s(bits, 6);
  const m1 = i64x2.shr_s(m, 1);
  const scale1 = i64x2.shl(i64x2.add(m1, i64x2.splat(1023)), 52);
  const scale2 = i64x2.shl(i64x2.add(i64x2.sub(m, m1), i64x2.splat(1023)), 52);
  return f64x2.mul(f64x2.mul(mantissa, scale1), scale2);
}

/**
 * tanh, on two lanes, both ways, keeping per lane the one that is accurate there:
 *   |x| < 0.55:  x + x³·P(x²), P of degree 10 fitted to (tanh x − x)/x³ (Chebyshev, error 8e-18);
 *   otherwise:   sign(x)·(1 − 2/(e^{2|x|} + 1)), |x| clamped to 19.1, beyond which tanh rounds to
 *                ±1. NaN stays NaN.
 */
@inline function tanh2(x: v128): v128 {
  const u = f64x2.mul(x, x);
  const u2 = f64x2.mul(u, u);
  const u4 = f64x2.mul(u2, u2);
  const u8 = f64x2.mul(u4, u4);
  const p = f64x2.add(
    f64x2.add(
      f64x2.add(f64x2.add(sp(P0), f64x2.mul(sp(P1), u)), f64x2.mul(u2, f64x2.add(sp(P2), f64x2.mul(sp(P3), u)))),
      f64x2.mul(u4, f64x2.add(f64x2.add(sp(P4), f64x2.mul(sp(P5), u)), f64x2.mul(u2, f64x2.add(sp(P6), f64x2.mul(sp(P7), u))))),
    ),
    f64x2.mul(u8, f64x2.add(f64x2.add(sp(P8), f64x2.mul(sp(P9), u)), f64x2.mul(u2, sp(P10)))),
  );
  // x + x·u·p has the sign of x, except at −0, where it gives +0: the sign bit is put back.
  const small = v128.or(f64x2.add(x, f64x2.mul(f64x2.mul(x, u), p)), v128.and(x, SIGN));
  const a = f64x2.abs(x);
  const clamped = f64x2.pmin(a, sp(LARGE));
  const ey = expTable(f64x2.add(clamped, clamped), true);
  const large = v128.or(f64x2.sub(sp(1.0), f64x2.div(sp(2.0), f64x2.add(ey, sp(1.0)))), v128.and(x, SIGN));
  return v128.bitselect(small, large, f64x2.lt(a, sp(SMALL)));
}

/** e^v over the whole range: Infinity above ~709.78, 0 below ~−745, NaN for NaN. */
@inline function exp2v(v: v128): v128 {
  const result = expTable(f64x2.pmax(f64x2.pmin(v, sp(EXP_MAX)), sp(EXP_MIN)), false);
  return v128.bitselect(v, result, f64x2.ne(v, v));
}

// ---- activations: σ is tanh (0), sigmoid (1) or relu (2); η is identity (0) or logistic (1) ----

@inline function sigma(kind: i32, pre: v128): v128 {
  if (kind == 0) return tanh2(pre);
  if (kind == 1) return f64x2.div(sp(1.0), f64x2.add(sp(1.0), exp2v(f64x2.neg(pre))));
  return f64x2.max(pre, sp(0.0));
}

/** σ′(pre), given y = σ(pre). */
@inline function sigmaSlope(kind: i32, pre: v128, y: v128): v128 {
  if (kind == 0) return f64x2.sub(sp(1.0), f64x2.mul(y, y));
  if (kind == 1) return f64x2.mul(y, f64x2.sub(sp(1.0), y));
  return v128.and(f64x2.gt(pre, sp(0.0)), sp(1.0));
}

/** σ″(pre), given y = σ(pre), as ../activations.ts has it. */
@inline function sigmaCurvature(kind: i32, y: v128): v128 {
  if (kind == 0) return f64x2.mul(f64x2.mul(sp(-2.0), y), f64x2.sub(sp(1.0), f64x2.mul(y, y)));
  if (kind == 1) return f64x2.mul(f64x2.mul(y, f64x2.sub(sp(1.0), y)), f64x2.sub(sp(1.0), f64x2.mul(sp(2.0), y)));
  return sp(0.0);
}

// ---- one layer, forward: Z2 = Z + h·σ(W Z + b), S = h·σ′(W Z + b) ----------------------------

/** What a forward layer keeps besides Z2: nothing, S, or S and, `curvature` bytes after it, C = h·σ″(W Z + b). */
const VALUES = 0;
const SLOPES = 1;
const CURVATURES = 2;

@inline function finish(kind: i32, acc: v128, bias: v128, zIn: usize, zOut: usize, s: usize, h: v128, mode: i32, curvature: usize): void {
  const pre = f64x2.add(acc, bias);
  const y = sigma(kind, pre);
  if (mode >= SLOPES) v128.store(s, f64x2.mul(h, sigmaSlope(kind, pre, y)));
  if (mode == CURVATURES) v128.store(s + curvature, f64x2.mul(h, sigmaCurvature(kind, y)));
  v128.store(zOut, f64x2.add(v128.load(zIn), f64x2.mul(h, y)));
}

@inline function layerForwardBody(kind: i32, d: i32, B: i32, W: usize, b: usize, Z: usize, Z2: usize, S: usize, hs: f64, mode: i32, curvature: usize): void {
  const h = sp(hs);
  const row = <usize>B << 3;
  let i = 0;
  for (; i + 4 <= d; i += 4) {
    const w0 = W + ((<usize>i * d) << 3);
    const w1 = w0 + ((<usize>d) << 3);
    const w2 = w1 + ((<usize>d) << 3);
    const w3 = w2 + ((<usize>d) << 3);
    for (let p = 0; p < B; p += 4) {
      let a00 = sp(0), a01 = sp(0), a10 = sp(0), a11 = sp(0), a20 = sp(0), a21 = sp(0), a30 = sp(0), a31 = sp(0);
      let z = Z + (<usize>p << 3);
      let o: usize = 0;
      const end = (<usize>d) << 3;
      for (; o < end; o += 8) {
        const z0 = v128.load(z);
        const z1 = v128.load(z, 16);
        const c0 = v128.load64_splat(w0 + o);
        const c1 = v128.load64_splat(w1 + o);
        const c2 = v128.load64_splat(w2 + o);
        const c3 = v128.load64_splat(w3 + o);
        a00 = f64x2.add(a00, f64x2.mul(c0, z0));
        a01 = f64x2.add(a01, f64x2.mul(c0, z1));
        a10 = f64x2.add(a10, f64x2.mul(c1, z0));
        a11 = f64x2.add(a11, f64x2.mul(c1, z1));
        a20 = f64x2.add(a20, f64x2.mul(c2, z0));
        a21 = f64x2.add(a21, f64x2.mul(c2, z1));
        a30 = f64x2.add(a30, f64x2.mul(c3, z0));
        a31 = f64x2.add(a31, f64x2.mul(c3, z1));
        z += row;
      }
      const at = ((<usize>i * B + p) << 3);
      const b0 = v128.load64_splat(b + (<usize>i << 3));
      const b1 = v128.load64_splat(b + (<usize>i << 3), 8);
      const b2 = v128.load64_splat(b + (<usize>i << 3), 16);
      const b3 = v128.load64_splat(b + (<usize>i << 3), 24);
      finish(kind, a00, b0, Z + at, Z2 + at, S + at, h, mode, curvature);
      finish(kind, a01, b0, Z + at + 16, Z2 + at + 16, S + at + 16, h, mode, curvature);
      finish(kind, a10, b1, Z + at + row, Z2 + at + row, S + at + row, h, mode, curvature);
      finish(kind, a11, b1, Z + at + row + 16, Z2 + at + row + 16, S + at + row + 16, h, mode, curvature);
      finish(kind, a20, b2, Z + at + 2 * row, Z2 + at + 2 * row, S + at + 2 * row, h, mode, curvature);
      finish(kind, a21, b2, Z + at + 2 * row + 16, Z2 + at + 2 * row + 16, S + at + 2 * row + 16, h, mode, curvature);
      finish(kind, a30, b3, Z + at + 3 * row, Z2 + at + 3 * row, S + at + 3 * row, h, mode, curvature);
      finish(kind, a31, b3, Z + at + 3 * row + 16, Z2 + at + 3 * row + 16, S + at + 3 * row + 16, h, mode, curvature);
    }
  }
  for (; i < d; i++) {
    const wi = W + ((<usize>i * d) << 3);
    const bi = v128.load64_splat(b + (<usize>i << 3));
    for (let p = 0; p < B; p += 4) {
      let a0 = sp(0), a1 = sp(0);
      let z = Z + (<usize>p << 3);
      for (let j = 0; j < d; j++) {
        const c = v128.load64_splat(wi + (<usize>j << 3));
        a0 = f64x2.add(a0, f64x2.mul(c, v128.load(z)));
        a1 = f64x2.add(a1, f64x2.mul(c, v128.load(z, 16)));
        z += row;
      }
      const at = ((<usize>i * B + p) << 3);
      finish(kind, a0, bi, Z + at, Z2 + at, S + at, h, mode, curvature);
      finish(kind, a1, bi, Z + at + 16, Z2 + at + 16, S + at + 16, h, mode, curvature);
    }
  }
}

/** One specialised copy of the layer per activation and per mode, chosen once per layer. */
function layerForward(kind: i32, d: i32, B: i32, W: usize, b: usize, Z: usize, Z2: usize, S: usize, hs: f64, mode: i32, curvature: usize): void {
  if (mode == CURVATURES) {
    if (kind == 0) layerForwardBody(0, d, B, W, b, Z, Z2, S, hs, CURVATURES, curvature);
    else if (kind == 1) layerForwardBody(1, d, B, W, b, Z, Z2, S, hs, CURVATURES, curvature);
    else layerForwardBody(2, d, B, W, b, Z, Z2, S, hs, CURVATURES, curvature);
  } else if (mode == SLOPES) {
    if (kind == 0) layerForwardBody(0, d, B, W, b, Z, Z2, S, hs, SLOPES, 0);
    else if (kind == 1) layerForwardBody(1, d, B, W, b, Z, Z2, S, hs, SLOPES, 0);
    else layerForwardBody(2, d, B, W, b, Z, Z2, S, hs, SLOPES, 0);
  } else if (kind == 0) layerForwardBody(0, d, B, W, b, Z, Z2, S, hs, VALUES, 0);
  else if (kind == 1) layerForwardBody(1, d, B, W, b, Z, Z2, S, hs, VALUES, 0);
  else layerForwardBody(2, d, B, W, b, Z, Z2, S, hs, VALUES, 0);
}

// ---- one layer, backward: A += W_kᵀ(S_k ⊙ A) ------------------------------------------------

function layerBackward(d: i32, B: i32, W: usize, S: usize, A: usize, U: usize): void {
  const row = <usize>B << 3;
  const n = <usize>d * B;
  for (let e: usize = 0; e < n; e += 2) {
    v128.store(U + (e << 3), f64x2.mul(v128.load(S + (e << 3)), v128.load(A + (e << 3))));
  }
  const stride = <usize>d << 3;
  let r = 0;
  for (; r + 4 <= d; r += 4) {
    for (let p = 0; p < B; p += 4) {
      let a00 = sp(0), a01 = sp(0), a10 = sp(0), a11 = sp(0), a20 = sp(0), a21 = sp(0), a30 = sp(0), a31 = sp(0);
      let u = U + (<usize>p << 3);
      let w = W + (<usize>r << 3);
      for (let i = 0; i < d; i++) {
        const u0 = v128.load(u);
        const u1 = v128.load(u, 16);
        const c0 = v128.load64_splat(w);
        const c1 = v128.load64_splat(w, 8);
        const c2 = v128.load64_splat(w, 16);
        const c3 = v128.load64_splat(w, 24);
        a00 = f64x2.add(a00, f64x2.mul(c0, u0));
        a01 = f64x2.add(a01, f64x2.mul(c0, u1));
        a10 = f64x2.add(a10, f64x2.mul(c1, u0));
        a11 = f64x2.add(a11, f64x2.mul(c1, u1));
        a20 = f64x2.add(a20, f64x2.mul(c2, u0));
        a21 = f64x2.add(a21, f64x2.mul(c2, u1));
        a30 = f64x2.add(a30, f64x2.mul(c3, u0));
        a31 = f64x2.add(a31, f64x2.mul(c3, u1));
        u += row;
        w += stride;
      }
      const at = A + ((<usize>r * B + p) << 3);
      v128.store(at, f64x2.add(v128.load(at), a00));
      v128.store(at, f64x2.add(v128.load(at, 16), a01), 16);
      v128.store(at + row, f64x2.add(v128.load(at + row), a10));
      v128.store(at + row, f64x2.add(v128.load(at + row, 16), a11), 16);
      v128.store(at + 2 * row, f64x2.add(v128.load(at + 2 * row), a20));
      v128.store(at + 2 * row, f64x2.add(v128.load(at + 2 * row, 16), a21), 16);
      v128.store(at + 3 * row, f64x2.add(v128.load(at + 3 * row), a30));
      v128.store(at + 3 * row, f64x2.add(v128.load(at + 3 * row, 16), a31), 16);
    }
  }
  for (; r < d; r++) {
    for (let p = 0; p < B; p += 4) {
      let a0 = sp(0), a1 = sp(0);
      let u = U + (<usize>p << 3);
      let w = W + (<usize>r << 3);
      for (let i = 0; i < d; i++) {
        const c = v128.load64_splat(w);
        a0 = f64x2.add(a0, f64x2.mul(c, v128.load(u)));
        a1 = f64x2.add(a1, f64x2.mul(c, v128.load(u, 16)));
        u += row;
        w += stride;
      }
      const at = A + ((<usize>r * B + p) << 3);
      v128.store(at, f64x2.add(v128.load(at), a0));
      v128.store(at, f64x2.add(v128.load(at, 16), a1), 16);
    }
  }
}

// ---- a whole batch ------------------------------------------------------------------------------

/** Bytes of scratch that `run` needs for chunks of B points. */
export function scratchBytes(layers: i32, d: i32, B: i32): i32 {
  return (4 * d * B + layers * d * B + B) * 8;
}

/**
 * Values (and, when `grads` is not 0, gradients) of n points. `input` holds the points
 * point-major (n·d₀), `values` receives n, `grads` n·d₀; `scratch` has scratchBytes(K, d, B).
 */
export function run(
  layers: i32,
  d: i32,
  d0: i32,
  h: f64,
  mu: f64,
  kind: i32,
  logistic: bool,
  W: usize,
  b: usize,
  w: usize,
  input: usize,
  n: i32,
  values: usize,
  grads: usize,
  scratch: usize,
  B: i32,
): void {
  const withGradient = grads != 0;
  const layerW = (<usize>d * d) << 3;
  for (let start = 0; start < n; start += B) {
    const count = min(B, n - start);
    // A short chunk (a small batch, or a batch's last points) is laid out at its own width, a
    // multiple of 4, so that it costs what its points cost rather than B points' work; each
    // point's numbers are the same at any width.
    const width = count == B ? B : (count + 3) & ~3;
    const plane = (<usize>d * width) << 3;
    let Z = scratch;
    let Z2 = Z + plane;
    const A = Z2 + plane;
    const U = A + plane;
    const X = U + plane;
    const S = X + ((<usize>width) << 3);
    const layerS = plane;
    // Z⁰: the points, transposed to feature-major and padded with zeros (coordinates ≥ d₀, points ≥ count).
    memory.fill(Z, 0, plane);
    for (let p = 0; p < count; p++) {
      const from = input + ((<usize>(start + p) * d0) << 3);
      for (let i = 0; i < d0; i++) store<f64>(Z + ((<usize>i * width + p) << 3), load<f64>(from + (<usize>i << 3)));
    }
    for (let k = 0; k < layers; k++) {
      layerForward(kind, d, width, W + <usize>k * layerW, b + ((<usize>k * d) << 3), Z, Z2, S + <usize>k * layerS, h, withGradient ? SLOPES : VALUES, 0);
      const t = Z;
      Z = Z2;
      Z2 = t;
    }
    // F = η(wᵀZ^K + μ), and the adjoint's start A = η′(·)·w.
    for (let p = 0; p < width; p += 2) {
      let acc = sp(0);
      for (let i = 0; i < d; i++) {
        acc = f64x2.add(acc, f64x2.mul(v128.load64_splat(w + (<usize>i << 3)), v128.load(Z + ((<usize>i * width + p) << 3))));
      }
      const x = f64x2.add(acc, sp(mu));
      let value = x;
      let slope = sp(1.0);
      if (logistic) {
        const t = tanh2(f64x2.div(x, sp(2.0)));
        value = f64x2.mul(sp(0.5), f64x2.add(sp(1.0), t));
        slope = f64x2.mul(sp(0.25), f64x2.sub(sp(1.0), f64x2.mul(t, t)));
      }
      v128.store(X + (<usize>p << 3), value);
      if (withGradient) {
        for (let i = 0; i < d; i++) {
          v128.store(A + ((<usize>i * width + p) << 3), f64x2.mul(slope, v128.load64_splat(w + (<usize>i << 3))));
        }
      }
    }
    for (let p = 0; p < count; p++) store<f64>(values + ((<usize>(start + p)) << 3), load<f64>(X + (<usize>p << 3)));
    if (!withGradient) continue;
    for (let k = layers - 1; k >= 0; k--) layerBackward(d, width, W + <usize>k * layerW, S + <usize>k * layerS, A, U);
    for (let p = 0; p < count; p++) {
      const to = grads + ((<usize>(start + p) * d0) << 3);
      for (let i = 0; i < d0; i++) store<f64>(to + (<usize>i << 3), load<f64>(A + ((<usize>i * width + p) << 3)));
    }
  }
}

// ---- one point: its features in the lanes -----------------------------------------------------

/**
 * Value (and gradient when `grad` is not 0) of one point, with the features two to a vector.
 * The layout has the width padded to an even dp: WT[k][j][i] = (W_k)_{ij} (columns, for
 * W_k z = Σ_j z_j·column j), WR[k][i][r] = (W_k)_{ir} (rows, for W_kᵀu = Σ_i u_i·row i), b[k][i],
 * w[i], with zeros in the padding. Sums run over j (and i) in ascending order from 0, as in the
 * reference and in `run`, so a point gets the same bits here as in a batch.
 * Scratch: Z, P, A, U (dp each) and S (K·dp).
 */
export function runOne(
  layers: i32,
  d: i32,
  dp: i32,
  d0: i32,
  h: f64,
  mu: f64,
  kind: i32,
  logistic: bool,
  WT: usize,
  WR: usize,
  b: usize,
  w: usize,
  input: usize,
  value: usize,
  grad: usize,
  scratch: usize,
): void {
  const withGradient = grad != 0;
  const vector = <usize>dp << 3;
  const Z = scratch;
  const P = Z + vector;
  const A = P + vector;
  const U = A + vector;
  const S = U + vector;
  memory.fill(Z, 0, vector);
  memory.copy(Z, input, (<usize>d0) << 3);
  const hv = sp(h);
  for (let k = 0; k < layers; k++) {
    const columns = WT + ((<usize>k * d * dp) << 3);
    const bias = b + ((<usize>k * dp) << 3);
    for (let v: usize = 0; v < vector; v += 16) {
      let acc = sp(0);
      for (let j = 0; j < d; j++) {
        acc = f64x2.add(acc, f64x2.mul(v128.load(columns + ((<usize>j * dp) << 3) + v), v128.load64_splat(Z + (<usize>j << 3))));
      }
      v128.store(P + v, f64x2.add(acc, v128.load(bias + v)));
    }
    const slopes = S + <usize>k * vector;
    for (let v: usize = 0; v < vector; v += 16) {
      const pre = v128.load(P + v);
      const y = sigma(kind, pre);
      if (withGradient) v128.store(slopes + v, f64x2.mul(hv, sigmaSlope(kind, pre, y)));
      v128.store(Z + v, f64x2.add(v128.load(Z + v), f64x2.mul(hv, y)));
    }
  }
  let acc: f64 = 0;
  for (let i = 0; i < d; i++) acc += load<f64>(w + (<usize>i << 3)) * load<f64>(Z + (<usize>i << 3));
  const x = sp(acc + mu);
  let out = x;
  let slope = sp(1.0);
  if (logistic) {
    const t = tanh2(f64x2.div(x, sp(2.0)));
    out = f64x2.mul(sp(0.5), f64x2.add(sp(1.0), t));
    slope = f64x2.mul(sp(0.25), f64x2.sub(sp(1.0), f64x2.mul(t, t)));
  }
  store<f64>(value, f64x2.extract_lane(out, 0));
  if (!withGradient) return;
  for (let v: usize = 0; v < vector; v += 16) v128.store(A + v, f64x2.mul(slope, v128.load(w + v)));
  for (let k = layers - 1; k >= 0; k--) {
    const slopes = S + <usize>k * vector;
    for (let v: usize = 0; v < vector; v += 16) v128.store(U + v, f64x2.mul(v128.load(slopes + v), v128.load(A + v)));
    const rows = WR + ((<usize>k * d * dp) << 3);
    for (let v: usize = 0; v < vector; v += 16) {
      let sum = sp(0);
      for (let i = 0; i < d; i++) {
        sum = f64x2.add(sum, f64x2.mul(v128.load(rows + ((<usize>i * dp) << 3) + v), v128.load64_splat(U + (<usize>i << 3))));
      }
      v128.store(A + v, f64x2.add(v128.load(A + v), sum));
    }
  }
  memory.copy(grad, A, (<usize>d0) << 3);
}

// ---- for the accuracy tests: tanh and exp over an array in place --------------------------------

export function tanhInPlace(at: usize, n: i32): void {
  for (let e: usize = 0; e < <usize>n; e += 2) v128.store(at + (e << 3), tanh2(v128.load(at + (e << 3))));
}

export function expInPlace(at: usize, n: i32): void {
  for (let e: usize = 0; e < <usize>n; e += 2) v128.store(at + (e << 3), exp2v(v128.load(at + (e << 3))));
}

/** The end of the module's static data: the loader places models and scratch above it. */
export function staticEnd(): usize {
  return __heap_base;
}

// ---- second derivatives: forward over reverse, the tangents in planes of their own ---------------

/**
 * out[i][p] = Σ_c W[i][c]·in[c][p], summed from c = 0, over a plane of `width` points: in
 * register blocks of 4 rows × 4 points, then the rows left one at a time.
 */
function planeProduct(d: i32, width: i32, W: usize, input: usize, out: usize): void {
  const row = <usize>width << 3;
  const stride = <usize>d << 3;
  let i = 0;
  for (; i + 4 <= d; i += 4) {
    const weights = W + ((<usize>i * d) << 3);
    for (let p: usize = 0; p < row; p += 32) {
      let a00 = sp(0.0), a01 = sp(0.0), a10 = sp(0.0), a11 = sp(0.0);
      let a20 = sp(0.0), a21 = sp(0.0), a30 = sp(0.0), a31 = sp(0.0);
      let x = input + p;
      for (let c = 0; c < d; c++) {
        const x0 = v128.load(x);
        const x1 = v128.load(x + 16);
        const at = weights + (<usize>c << 3);
        const w0 = v128.load64_splat(at);
        const w1 = v128.load64_splat(at + stride);
        const w2 = v128.load64_splat(at + 2 * stride);
        const w3 = v128.load64_splat(at + 3 * stride);
        a00 = f64x2.add(a00, f64x2.mul(w0, x0));
        a01 = f64x2.add(a01, f64x2.mul(w0, x1));
        a10 = f64x2.add(a10, f64x2.mul(w1, x0));
        a11 = f64x2.add(a11, f64x2.mul(w1, x1));
        a20 = f64x2.add(a20, f64x2.mul(w2, x0));
        a21 = f64x2.add(a21, f64x2.mul(w2, x1));
        a30 = f64x2.add(a30, f64x2.mul(w3, x0));
        a31 = f64x2.add(a31, f64x2.mul(w3, x1));
        x += row;
      }
      const to = out + <usize>i * row + p;
      v128.store(to, a00);
      v128.store(to + 16, a01);
      v128.store(to + row, a10);
      v128.store(to + row + 16, a11);
      v128.store(to + 2 * row, a20);
      v128.store(to + 2 * row + 16, a21);
      v128.store(to + 3 * row, a30);
      v128.store(to + 3 * row + 16, a31);
    }
  }
  for (; i < d; i++) {
    const weights = W + ((<usize>i * d) << 3);
    const to = out + <usize>i * row;
    for (let p: usize = 0; p < row; p += 32) {
      let a0 = sp(0.0);
      let a1 = sp(0.0);
      let x = input + p;
      for (let c = 0; c < d; c++) {
        const weight = v128.load64_splat(weights + (<usize>c << 3));
        a0 = f64x2.add(a0, f64x2.mul(weight, v128.load(x)));
        a1 = f64x2.add(a1, f64x2.mul(weight, v128.load(x + 16)));
        x += row;
      }
      v128.store(to + p, a0);
      v128.store(to + p + 16, a1);
    }
  }
}

/** out[r][p] += Σ_i W[i][r]·in[i][p], summed from i = 0: W_kᵀ times a plane, added; 4 columns × 4 points at a time. */
function planeProductTransposedAdd(d: i32, width: i32, W: usize, input: usize, out: usize): void {
  const row = <usize>width << 3;
  const stride = <usize>d << 3;
  let r = 0;
  for (; r + 4 <= d; r += 4) {
    const columns = W + (<usize>r << 3);
    for (let p: usize = 0; p < row; p += 32) {
      let a00 = sp(0.0), a01 = sp(0.0), a10 = sp(0.0), a11 = sp(0.0);
      let a20 = sp(0.0), a21 = sp(0.0), a30 = sp(0.0), a31 = sp(0.0);
      let x = input + p;
      let at = columns;
      for (let i = 0; i < d; i++) {
        const x0 = v128.load(x);
        const x1 = v128.load(x + 16);
        const w0 = v128.load64_splat(at);
        const w1 = v128.load64_splat(at + 8);
        const w2 = v128.load64_splat(at + 16);
        const w3 = v128.load64_splat(at + 24);
        a00 = f64x2.add(a00, f64x2.mul(w0, x0));
        a01 = f64x2.add(a01, f64x2.mul(w0, x1));
        a10 = f64x2.add(a10, f64x2.mul(w1, x0));
        a11 = f64x2.add(a11, f64x2.mul(w1, x1));
        a20 = f64x2.add(a20, f64x2.mul(w2, x0));
        a21 = f64x2.add(a21, f64x2.mul(w2, x1));
        a30 = f64x2.add(a30, f64x2.mul(w3, x0));
        a31 = f64x2.add(a31, f64x2.mul(w3, x1));
        x += row;
        at += stride;
      }
      const to = out + <usize>r * row + p;
      v128.store(to, f64x2.add(v128.load(to), a00));
      v128.store(to + 16, f64x2.add(v128.load(to + 16), a01));
      v128.store(to + row, f64x2.add(v128.load(to + row), a10));
      v128.store(to + row + 16, f64x2.add(v128.load(to + row + 16), a11));
      v128.store(to + 2 * row, f64x2.add(v128.load(to + 2 * row), a20));
      v128.store(to + 2 * row + 16, f64x2.add(v128.load(to + 2 * row + 16), a21));
      v128.store(to + 3 * row, f64x2.add(v128.load(to + 3 * row), a30));
      v128.store(to + 3 * row + 16, f64x2.add(v128.load(to + 3 * row + 16), a31));
    }
  }
  for (; r < d; r++) {
    const column = W + (<usize>r << 3);
    const to = out + <usize>r * row;
    for (let p: usize = 0; p < row; p += 32) {
      let a0 = sp(0.0);
      let a1 = sp(0.0);
      let x = input + p;
      for (let i = 0; i < d; i++) {
        const weight = v128.load64_splat(column + ((<usize>i * d) << 3));
        a0 = f64x2.add(a0, f64x2.mul(weight, v128.load(x)));
        a1 = f64x2.add(a1, f64x2.mul(weight, v128.load(x + 16)));
        x += row;
      }
      v128.store(to + p, f64x2.add(v128.load(to + p), a0));
      v128.store(to + p + 16, f64x2.add(v128.load(to + p + 16), a1));
    }
  }
}

/**
 * A chunk's start for the second-derivative kernels: Z⁰ = (y, 0) and the m tangents Ż⁰_j, each a
 * plane, feature-major: the given directions (one a point, m = 1) when `directions` is not 0,
 * else the unit vectors e_1 … e_m.
 */
function loadTangentChunk(d0: i32, m: i32, width: i32, plane: usize, start: i32, count: i32, input: usize, directions: usize, Z: usize, Zd: usize): void {
  memory.fill(Z, 0, plane);
  memory.fill(Zd, 0, <usize>m * plane);
  for (let p = 0; p < count; p++) {
    const from = input + ((<usize>(start + p) * d0) << 3);
    for (let i = 0; i < d0; i++) store<f64>(Z + ((<usize>i * width + p) << 3), load<f64>(from + (<usize>i << 3)));
    if (directions != 0) {
      const v = directions + ((<usize>(start + p) * d0) << 3);
      for (let i = 0; i < d0; i++) store<f64>(Zd + ((<usize>i * width + p) << 3), load<f64>(v + (<usize>i << 3)));
    } else {
      for (let j = 0; j < m; j++) store<f64>(Zd + <usize>j * plane + ((<usize>j * width + p) << 3), 1.0);
    }
  }
}

/**
 * out[i][p] = W[i][j] at every point: W e_j, with the bits planeProduct would give it (its sum
 * from +0 adds only zeros besides W[i][j], and turns −0 into +0).
 */
function columnPlane(d: i32, width: i32, W: usize, j: i32, out: usize): void {
  const row = <usize>width << 3;
  for (let i = 0; i < d; i++) {
    const entry = f64x2.add(sp(0.0), v128.load64_splat(W + ((<usize>i * d + j) << 3)));
    const to = out + <usize>i * row;
    for (let p: usize = 0; p < row; p += 16) v128.store(to + p, entry);
  }
}

/**
 * The forward sweep with m tangents: Z += h·σ(U_k) with U_k = W_k Z + b_k by the gradient's own
 * layer (so that F has its bits), Z and P taking turns; U̇_k,j = W_k Ż_j (kept, K·m planes at Ud)
 * and Ż_j += h·σ′(U_k) ⊙ U̇_k,j. S_k = h·σ′(U_k) and, K planes after S, C_k = h·σ″(U_k) are kept
 * for the way back. With `units`, Ż⁰_j = e_j, and U̇_0,j = W_0 e_j is W_0's column j. Returns
 * where Z^K is (Z or P).
 */
function forwardWithTangents(layers: i32, d: i32, m: i32, width: i32, plane: usize, kind: i32, h: f64, W: usize, b: usize, Z: usize, P: usize, S: usize, Zd: usize, Ud: usize, units: bool): usize {
  const layerW = (<usize>d * d) << 3;
  let from = Z;
  let to = P;
  for (let k = 0; k < layers; k++) {
    const Wk = W + <usize>k * layerW;
    const Sk = S + <usize>k * plane;
    layerForward(kind, d, width, Wk, b + ((<usize>k * d) << 3), from, to, Sk, h, CURVATURES, <usize>layers * plane);
    const t = from;
    from = to;
    to = t;
    for (let j = 0; j < m; j++) {
      const Zj = Zd + <usize>j * plane;
      const Uj = Ud + (<usize>k * m + j) * plane;
      if (k == 0 && units) columnPlane(d, width, Wk, j, Uj);
      else planeProduct(d, width, Wk, Zj, Uj);
      for (let e: usize = 0; e < plane; e += 16) v128.store(Zj + e, f64x2.add(v128.load(Zj + e), f64x2.mul(v128.load(Sk + e), v128.load(Uj + e))));
    }
  }
  return from;
}

/**
 * The output of a chunk, two points at a time: x = wᵀZ^K + μ, F = η(x) into `values`, the adjoint's
 * start A^K = η′(x)·w, ẋ_j = wᵀŻ_j into row j of `dx`, and η″(x) into row 0 of `curvatures`.
 * The sums run as in `run`, so that F has the same bits there and here.
 */
function outputWithTangents(d: i32, m: i32, width: i32, count: i32, start: i32, mu: f64, logistic: bool, w: usize, Z: usize, Zd: usize, plane: usize, values: usize, A: usize, dx: usize, curvatures: usize): void {
  const row = <usize>width << 3;
  for (let p: usize = 0; p < row; p += 16) {
    let acc = sp(0.0);
    for (let i = 0; i < d; i++) acc = f64x2.add(acc, f64x2.mul(v128.load64_splat(w + (<usize>i << 3)), v128.load(Z + <usize>i * row + p)));
    const x = f64x2.add(acc, sp(mu));
    let value = x;
    let slope = sp(1.0);
    let curvature = sp(0.0);
    if (logistic) {
      const t = tanh2(f64x2.div(x, sp(2.0)));
      const u = f64x2.sub(sp(1.0), f64x2.mul(t, t));
      value = f64x2.mul(sp(0.5), f64x2.add(sp(1.0), t));
      slope = f64x2.mul(sp(0.25), u);
      curvature = f64x2.mul(f64x2.mul(sp(-0.25), t), u);
    }
    const lane = <i32>(p >> 3);
    if (lane < count) store<f64>(values + ((<usize>(start + lane)) << 3), f64x2.extract_lane(value, 0));
    if (lane + 1 < count) store<f64>(values + ((<usize>(start + lane + 1)) << 3), f64x2.extract_lane(value, 1));
    v128.store(curvatures + p, curvature);
    for (let i = 0; i < d; i++) v128.store(A + <usize>i * row + p, f64x2.mul(slope, v128.load64_splat(w + (<usize>i << 3))));
    for (let j = 0; j < m; j++) {
      const Zj = Zd + <usize>j * plane;
      let sum = sp(0.0);
      for (let i = 0; i < d; i++) sum = f64x2.add(sum, f64x2.mul(v128.load64_splat(w + (<usize>i << 3)), v128.load(Zj + <usize>i * row + p)));
      v128.store(dx + <usize>j * row + p, sum);
    }
  }
}

/** One step of the way back for the first-order adjoint: A += W_kᵀ(h·σ′(U_k) ⊙ A), through T. */
function adjointStep(d: i32, width: i32, plane: usize, Wk: usize, Sk: usize, A: usize, T: usize): void {
  for (let e: usize = 0; e < plane; e += 16) v128.store(T + e, f64x2.mul(v128.load(Sk + e), v128.load(A + e)));
  planeProductTransposedAdd(d, width, Wk, T, A);
}

/** ∇F of a chunk's points (the first d₀ rows of A) into `grads`. */
function storeGradients(d0: i32, width: i32, count: i32, start: i32, A: usize, grads: usize): void {
  for (let p = 0; p < count; p++) {
    const to = grads + ((<usize>(start + p) * d0) << 3);
    for (let i = 0; i < d0; i++) store<f64>(to + (<usize>i << 3), load<f64>(A + ((<usize>i * width + p) << 3)));
  }
}

/**
 * Bytes of scratch `runSecond` needs for chunks of B points and m directions: the planes Z, P, T,
 * A, S and C (K each), Ż (m), U̇ (K·m), then Ȧ (m planes) or, with `gram`, the Hessian's m² rows.
 */
export function secondScratchBytes(layers: i32, d: i32, m: i32, B: i32, gram: bool): i32 {
  return ((4 + 2 * layers + m * (layers + 1)) * d + (gram ? m * m : m * d)) * B * 8;
}

/**
 * F, ∇F and second derivatives of n points, in chunks of B. The forward sweep carries m tangents
 * Ż_j beside Z (the given directions, one a point and m = 1, when `directions` is not 0; else the
 * unit vectors e_1 … e_m, m = d₀) and keeps U̇_k,j = W_k Ż_j for each layer. Then either
 *
 * - forward over reverse (as ../../second.ts derives it): Ȧ_j goes back beside A, and `products`
 *   receives ∇²F·v_j, for point p and direction j d₀ numbers at ((p·m + j)·d₀); or,
 * - with `gram` (and the unit vectors), the Hessian by the second-order chain rule: once
 *   A^{k+1} = ∂F/∂Z^{k+1} is known, each layer adds its curvature,
 *
 *     ∇²F = η″(x)·ẋẋᵀ + Σ_k U̇_kᵀ diag(h·σ″(U_k) ⊙ A^{k+1}) U̇_k,   ẋ = (wᵀŻ_j)_j,
 *
 *   exact, and symmetric by construction: the d₀ backward tangent sweeps become one m × m Gram
 *   sum per layer, d·m(m + 1)/2 products a point instead of d²·m. `products` receives ∇²F, m × m
 *   row-major at (p·m²).
 */
export function runSecond(
  layers: i32,
  d: i32,
  d0: i32,
  h: f64,
  mu: f64,
  kind: i32,
  logistic: bool,
  W: usize,
  b: usize,
  w: usize,
  input: usize,
  directions: usize,
  m: i32,
  gram: bool,
  n: i32,
  values: usize,
  grads: usize,
  products: usize,
  scratch: usize,
  B: i32,
): void {
  const layerW = (<usize>d * d) << 3;
  for (let start = 0; start < n; start += B) {
    const count = min(B, n - start);
    const width = count == B ? B : (count + 3) & ~3;
    const plane = (<usize>d * width) << 3;
    const row = <usize>width << 3;
    const Z = scratch;
    const P = Z + plane;
    const T = P + plane;
    const A = T + plane;
    const S = A + plane;
    const C = S + <usize>layers * plane;
    const Zd = C + <usize>layers * plane;
    const Ud = Zd + <usize>m * plane;
    // Ȧ's m planes, or the Hessian's m² rows.
    const X = Ud + <usize>layers * m * plane;
    loadTangentChunk(d0, m, width, plane, start, count, input, directions, Z, Zd);
    const ZK = forwardWithTangents(layers, d, m, width, plane, kind, h, W, b, Z, P, S, Zd, Ud, directions == 0);
    const eta2 = ZK == Z ? P : Z;
    // ẋ_j into T's first m rows (m ≤ d), η″(x) into the first row of the plane Z^K is not in.
    outputWithTangents(d, m, width, count, start, mu, logistic, w, ZK, Zd, plane, values, A, T, eta2);
    for (let j = 0; j < m; j++) {
      for (let p: usize = 0; p < row; p += 16) {
        const xj = f64x2.mul(v128.load(eta2 + p), v128.load(T + <usize>j * row + p));
        if (gram) {
          // ∇²F starts at η″(x)·ẋ_j·ẋ_l, in all m² rows, so that curvatureAdd's blocks may add to
          // the lower triangle's too (never read).
          for (let l = 0; l < m; l++) v128.store(X + (<usize>j * m + l) * row + p, f64x2.mul(xj, v128.load(T + <usize>l * row + p)));
        } else {
          // Ȧ^K_j = η″(x)·ẋ_j·w.
          const Aj = X + <usize>j * plane;
          for (let i = 0; i < d; i++) v128.store(Aj + <usize>i * row + p, f64x2.mul(xj, v128.load64_splat(w + (<usize>i << 3))));
        }
      }
    }
    // Back, from A^{k+1}: the layer's curvature, or Ȧ += W_kᵀ(h·σ″ ⊙ U̇_k ⊙ A + h·σ′ ⊙ Ȧ); then
    // A += W_kᵀ(h·σ′ ⊙ A).
    for (let k = layers - 1; k >= 0; k--) {
      const Wk = W + <usize>k * layerW;
      const Sk = S + <usize>k * plane;
      const Ck = C + <usize>k * plane;
      if (gram) curvatureAdd(d, m, width, plane, Ck, A, Ud + <usize>k * m * plane, X);
      else {
        for (let j = 0; j < m; j++) {
          const Uj = Ud + (<usize>k * m + j) * plane;
          const Aj = X + <usize>j * plane;
          for (let e: usize = 0; e < plane; e += 16) {
            const bent = f64x2.mul(f64x2.mul(v128.load(Ck + e), v128.load(Uj + e)), v128.load(A + e));
            v128.store(T + e, f64x2.add(bent, f64x2.mul(v128.load(Sk + e), v128.load(Aj + e))));
          }
          planeProductTransposedAdd(d, width, Wk, T, Aj);
        }
      }
      adjointStep(d, width, plane, Wk, Sk, A, T);
    }
    storeGradients(d0, width, count, start, A, grads);
    for (let p = 0; p < count; p++) {
      if (gram) {
        const H = products + ((<usize>(start + p) * m * m) << 3);
        for (let j = 0; j < m; j++) {
          for (let l = j; l < m; l++) {
            const entry = load<f64>(X + (<usize>j * m + l) * row + (<usize>p << 3));
            store<f64>(H + ((<usize>j * m + l) << 3), entry);
            store<f64>(H + ((<usize>l * m + j) << 3), entry);
          }
        }
      } else {
        for (let j = 0; j < m; j++) {
          const Aj = X + <usize>j * plane;
          const out = products + ((<usize>((start + p) * m + j) * d0) << 3);
          for (let i = 0; i < d0; i++) store<f64>(out + (<usize>i << 3), load<f64>(Aj + ((<usize>i * width + p) << 3)));
        }
      }
    }
  }
}

/**
 * A layer's curvature into the Hessian's rows: H_jl += Σ_i (c_i·U̇_j,i)·U̇_l,i for l ≥ j, with
 * c = C ⊙ A (C = h·σ″(U_k), A = A^{k+1}), each sum from i = 0 and then added, at every point of a
 * plane (U̇_j at U + j·plane, H_jl a row at H + (j·m + l)·row). Blocks of 2 j × 4 l, then 2 × 2,
 * keep several sums going at once, so that no sum waits on the one before; the blocks on the
 * diagonal also add to a few rows below it (l < j), which hold nothing that is read.
 */
function curvatureAdd(d: i32, m: i32, width: i32, plane: usize, C: usize, A: usize, U: usize, H: usize): void {
  const row = <usize>width << 3;
  const end = <usize>d * row;
  for (let p: usize = 0; p < row; p += 16) {
    const Cp = C + p;
    const Ap = A + p;
    let j = 0;
    for (; j + 2 <= m; j += 2) {
      const u0 = U + <usize>j * plane + p;
      const u1 = u0 + plane;
      const to0 = H + <usize>j * m * row + p;
      const to1 = to0 + <usize>m * row;
      let l = j;
      for (; l + 4 <= m; l += 4) curvatureBlockAdd(true, end, row, plane, Cp, Ap, u0, u1, U + <usize>l * plane + p, to0 + <usize>l * row, to1 + <usize>l * row);
      for (; l + 2 <= m; l += 2) curvatureBlockAdd(false, end, row, plane, Cp, Ap, u0, u1, U + <usize>l * plane + p, to0 + <usize>l * row, to1 + <usize>l * row);
      if (l < m) curvatureRowsAdd(end, row, Cp, Ap, u0, U + <usize>l * plane + p, to0 + <usize>l * row, u1, to1 + <usize>l * row);
    }
    // m odd: the last row, from its diagonal.
    if (j < m) {
      const u0 = U + <usize>j * plane + p;
      const to = H + <usize>j * m * row + p;
      for (let l = j; l < m; l++) curvatureRowsAdd(end, row, Cp, Ap, u0, U + <usize>l * plane + p, to + <usize>l * row, 0, 0);
    }
  }
}

/** curvatureAdd's blocks: rows j, j + 1 (U̇ at u0, u1; H at to0, to1) × columns l … l + 3 (`wide`) or l, l + 1 (U̇_l at v), each sum on its own. */
@inline function curvatureBlockAdd(wide: bool, end: usize, row: usize, plane: usize, Cp: usize, Ap: usize, u0: usize, u1: usize, v: usize, to0: usize, to1: usize): void {
  let a00 = sp(0.0), a01 = sp(0.0), a02 = sp(0.0), a03 = sp(0.0);
  let a10 = sp(0.0), a11 = sp(0.0), a12 = sp(0.0), a13 = sp(0.0);
  for (let at: usize = 0; at < end; at += row) {
    const ci = f64x2.mul(v128.load(Cp + at), v128.load(Ap + at));
    const t0 = f64x2.mul(ci, v128.load(u0 + at));
    const t1 = f64x2.mul(ci, v128.load(u1 + at));
    const v0 = v128.load(v + at);
    const v1 = v128.load(v + plane + at);
    a00 = f64x2.add(a00, f64x2.mul(t0, v0));
    a01 = f64x2.add(a01, f64x2.mul(t0, v1));
    a10 = f64x2.add(a10, f64x2.mul(t1, v0));
    a11 = f64x2.add(a11, f64x2.mul(t1, v1));
    if (wide) {
      const v2 = v128.load(v + 2 * plane + at);
      const v3 = v128.load(v + 3 * plane + at);
      a02 = f64x2.add(a02, f64x2.mul(t0, v2));
      a03 = f64x2.add(a03, f64x2.mul(t0, v3));
      a12 = f64x2.add(a12, f64x2.mul(t1, v2));
      a13 = f64x2.add(a13, f64x2.mul(t1, v3));
    }
  }
  v128.store(to0, f64x2.add(v128.load(to0), a00));
  v128.store(to0 + row, f64x2.add(v128.load(to0 + row), a01));
  v128.store(to1, f64x2.add(v128.load(to1), a10));
  v128.store(to1 + row, f64x2.add(v128.load(to1 + row), a11));
  if (wide) {
    v128.store(to0 + 2 * row, f64x2.add(v128.load(to0 + 2 * row), a02));
    v128.store(to0 + 3 * row, f64x2.add(v128.load(to0 + 3 * row), a03));
    v128.store(to1 + 2 * row, f64x2.add(v128.load(to1 + 2 * row), a12));
    v128.store(to1 + 3 * row, f64x2.add(v128.load(to1 + 3 * row), a13));
  }
}

/** curvatureAdd's single sums: H_jl (at `to0`) and, when u1 is not 0, H_(j+1)l (at `to1`), for one l (U̇_l at v). */
@inline function curvatureRowsAdd(end: usize, row: usize, Cp: usize, Ap: usize, u0: usize, v: usize, to0: usize, u1: usize, to1: usize): void {
  let a0 = sp(0.0), a1 = sp(0.0);
  for (let at: usize = 0; at < end; at += row) {
    const ci = f64x2.mul(v128.load(Cp + at), v128.load(Ap + at));
    const vl = v128.load(v + at);
    a0 = f64x2.add(a0, f64x2.mul(f64x2.mul(ci, v128.load(u0 + at)), vl));
    if (u1 != 0) a1 = f64x2.add(a1, f64x2.mul(f64x2.mul(ci, v128.load(u1 + at)), vl));
  }
  v128.store(to0, f64x2.add(v128.load(to0), a0));
  if (u1 != 0) v128.store(to1, f64x2.add(v128.load(to1), a1));
}

/**
 * One point's F, ∇F and ∇²F·v for m directions (the unit vectors when `directions` is 0, else one
 * direction of d₀ numbers), with its features two to a vector as in `runOne` (the same layouts
 * WT, WR, b, w, and the same sums, so F and ∇F have runOne's bits): forward over reverse, as in
 * `runSecond`, without a batch's lanes to fill. `products` gets m rows of d₀. With `gram` (and
 * the unit vectors), the Hessian instead by `runSecond`'s curvature sums, with its bits. Scratch:
 * Z, P, A, T (dp each), S and C (K·dp each), Ż and Ȧ (m·dp each), U̇ (K·m·dp).
 */
export function runSecondOne(
  layers: i32,
  d: i32,
  dp: i32,
  d0: i32,
  h: f64,
  mu: f64,
  kind: i32,
  logistic: bool,
  WT: usize,
  WR: usize,
  b: usize,
  w: usize,
  input: usize,
  directions: usize,
  m: i32,
  gram: bool,
  value: usize,
  grad: usize,
  products: usize,
  scratch: usize,
): void {
  const vector = <usize>dp << 3;
  const Z = scratch;
  const P = Z + vector;
  const A = P + vector;
  const T = A + vector;
  const S = T + vector;
  const C = S + <usize>layers * vector;
  const Zd = C + <usize>layers * vector;
  const Ad = Zd + <usize>m * vector;
  const Ud = Ad + <usize>m * vector;
  memory.fill(Z, 0, vector);
  memory.copy(Z, input, (<usize>d0) << 3);
  memory.fill(Zd, 0, <usize>m * vector);
  for (let j = 0; j < m; j++) {
    if (directions != 0) memory.copy(Zd + <usize>j * vector, directions, (<usize>d0) << 3);
    else store<f64>(Zd + <usize>j * vector + (<usize>j << 3), 1.0);
  }
  const hv = sp(h);
  for (let k = 0; k < layers; k++) {
    const columns = WT + ((<usize>k * d * dp) << 3);
    const bias = b + ((<usize>k * dp) << 3);
    for (let v: usize = 0; v < vector; v += 16) {
      let acc = sp(0);
      for (let j = 0; j < d; j++) acc = f64x2.add(acc, f64x2.mul(v128.load(columns + ((<usize>j * dp) << 3) + v), v128.load64_splat(Z + (<usize>j << 3))));
      v128.store(P + v, f64x2.add(acc, v128.load(bias + v)));
    }
    for (let t = 0; t < m; t++) {
      const Zt = Zd + <usize>t * vector;
      const Ut = Ud + (<usize>k * m + t) * vector;
      for (let v: usize = 0; v < vector; v += 16) {
        let acc = sp(0);
        for (let j = 0; j < d; j++) acc = f64x2.add(acc, f64x2.mul(v128.load(columns + ((<usize>j * dp) << 3) + v), v128.load64_splat(Zt + (<usize>j << 3))));
        v128.store(Ut + v, acc);
      }
    }
    const Sk = S + <usize>k * vector;
    const Ck = C + <usize>k * vector;
    for (let v: usize = 0; v < vector; v += 16) {
      const pre = v128.load(P + v);
      const y = sigma(kind, pre);
      const slope = f64x2.mul(hv, sigmaSlope(kind, pre, y));
      v128.store(Sk + v, slope);
      v128.store(Ck + v, f64x2.mul(hv, sigmaCurvature(kind, y)));
      v128.store(Z + v, f64x2.add(v128.load(Z + v), f64x2.mul(hv, y)));
      for (let t = 0; t < m; t++) {
        const at = Zd + <usize>t * vector + v;
        v128.store(at, f64x2.add(v128.load(at), f64x2.mul(slope, v128.load(Ud + (<usize>k * m + t) * vector + v))));
      }
    }
  }
  let acc: f64 = 0;
  for (let i = 0; i < d; i++) acc += load<f64>(w + (<usize>i << 3)) * load<f64>(Z + (<usize>i << 3));
  const x = sp(acc + mu);
  let out = x;
  let slope = sp(1.0);
  let curvature = sp(0.0);
  if (logistic) {
    const t = tanh2(f64x2.div(x, sp(2.0)));
    const u = f64x2.sub(sp(1.0), f64x2.mul(t, t));
    out = f64x2.mul(sp(0.5), f64x2.add(sp(1.0), t));
    slope = f64x2.mul(sp(0.25), u);
    curvature = f64x2.mul(f64x2.mul(sp(-0.25), t), u);
  }
  store<f64>(value, f64x2.extract_lane(out, 0));
  for (let v: usize = 0; v < vector; v += 16) v128.store(A + v, f64x2.mul(slope, v128.load(w + v)));
  // ẋ_t into T's first m numbers (m ≤ d ≤ dp).
  for (let t = 0; t < m; t++) {
    const Zt = Zd + <usize>t * vector;
    let dx: f64 = 0;
    for (let i = 0; i < d; i++) dx += load<f64>(w + (<usize>i << 3)) * load<f64>(Zt + (<usize>i << 3));
    store<f64>(T + (<usize>t << 3), dx);
  }
  const eta2 = f64x2.extract_lane(curvature, 0);
  if (gram) {
    // ∇²F starts at η″(x)·ẋ_j·ẋ_l, in `products`, the upper triangle.
    for (let j = 0; j < m; j++) {
      const xj = eta2 * load<f64>(T + (<usize>j << 3));
      for (let l = j; l < m; l++) store<f64>(products + ((<usize>j * m + l) << 3), xj * load<f64>(T + (<usize>l << 3)));
    }
  } else {
    for (let t = 0; t < m; t++) {
      const scale = f64x2.mul(curvature, v128.load64_splat(T + (<usize>t << 3)));
      for (let v: usize = 0; v < vector; v += 16) v128.store(Ad + <usize>t * vector + v, f64x2.mul(scale, v128.load(w + v)));
    }
  }
  for (let k = layers - 1; k >= 0; k--) {
    const Sk = S + <usize>k * vector;
    const Ck = C + <usize>k * vector;
    const rows = WR + ((<usize>k * d * dp) << 3);
    if (gram) {
      // The layer's curvature: Σ_i (c_i·U̇_j,i)·U̇_l,i with c = h·σ″(U_k) ⊙ A^{k+1}.
      for (let j = 0; j < m; j++) {
        const Uj = Ud + (<usize>k * m + j) * vector;
        for (let v: usize = 0; v < vector; v += 16) v128.store(T + v, f64x2.mul(f64x2.mul(v128.load(Ck + v), v128.load(A + v)), v128.load(Uj + v)));
        for (let l = j; l < m; l++) {
          const Ul = Ud + (<usize>k * m + l) * vector;
          let sum: f64 = 0;
          for (let i = 0; i < d; i++) sum += load<f64>(T + (<usize>i << 3)) * load<f64>(Ul + (<usize>i << 3));
          const at = products + ((<usize>j * m + l) << 3);
          store<f64>(at, load<f64>(at) + sum);
        }
      }
    }
    for (let t = 0; !gram && t < m; t++) {
      const Ut = Ud + (<usize>k * m + t) * vector;
      const At = Ad + <usize>t * vector;
      for (let v: usize = 0; v < vector; v += 16) {
        const bent = f64x2.mul(f64x2.mul(v128.load(Ck + v), v128.load(Ut + v)), v128.load(A + v));
        v128.store(T + v, f64x2.add(bent, f64x2.mul(v128.load(Sk + v), v128.load(At + v))));
      }
      for (let v: usize = 0; v < vector; v += 16) {
        let sum = sp(0);
        for (let i = 0; i < d; i++) sum = f64x2.add(sum, f64x2.mul(v128.load(rows + ((<usize>i * dp) << 3) + v), v128.load64_splat(T + (<usize>i << 3))));
        v128.store(At + v, f64x2.add(v128.load(At + v), sum));
      }
    }
    for (let v: usize = 0; v < vector; v += 16) v128.store(T + v, f64x2.mul(v128.load(Sk + v), v128.load(A + v)));
    for (let v: usize = 0; v < vector; v += 16) {
      let sum = sp(0);
      for (let i = 0; i < d; i++) sum = f64x2.add(sum, f64x2.mul(v128.load(rows + ((<usize>i * dp) << 3) + v), v128.load64_splat(T + (<usize>i << 3))));
      v128.store(A + v, f64x2.add(v128.load(A + v), sum));
    }
  }
  memory.copy(grad, A, (<usize>d0) << 3);
  if (gram) {
    for (let j = 0; j < m; j++) for (let l = j + 1; l < m; l++) store<f64>(products + ((<usize>l * m + j) << 3), load<f64>(products + ((<usize>j * m + l) << 3)));
  } else {
    for (let t = 0; t < m; t++) memory.copy(products + ((<usize>t * d0) << 3), Ad + <usize>t * vector, (<usize>d0) << 3);
  }
}
