/*
 * fkd crop renderer, WebAssembly SIMD128 build of src/crop/render-reference.ts.
 *
 * Freestanding C (no libc): every buffer lives in the module's linear memory and is laid
 * out by the TypeScript side (src/crop/render-wasm.ts), which also computes the resampling
 * coefficients with the reference code, so the weights are the reference's weights.
 *
 * Bit-identity with the reference, step by step:
 *  - Accumulation is i32 with wrap-around. The reference accumulates exactly in float64
 *    (every product and partial sum is an integer far below 2^53) and then applies `>> 22`,
 *    which first reduces modulo 2^32 (ToInt32). Wrapping i32 arithmetic yields the same
 *    residue, so the results agree even if a sum ever left the int32 range; with weights
 *    normalised to 2^22 the sums stay far inside it anyway (see render-wasm.test.ts).
 *  - `+ HALF`, arithmetic shift right by 22, then saturation to 0..255 (signed narrowing
 *    i32 -> i16 followed by unsigned narrowing i16 -> u8 is exactly clamp(v, 0, 255),
 *    matching the stores into Uint8ClampedArray), between the passes and at the end.
 *  - Same pass order (horizontal into a uint8 row buffer, then vertical), same rows, and
 *    the flip mirrors the horizontal pass's destination column.
 *  - Normalisation reads a 3 x 256 float32 table built by running writeNormalized itself.
 *
 * Padding contract (the caller allocates it): the image is followed by >= 8 readable bytes,
 * `temp` and `out` by >= 16 bytes; the vertical pass reads and writes whole 16-byte vectors.
 *
 * Build: scripts/build-wasm.sh (dev only; the compiled render.wasm is committed).
 */
#include <stdint.h>
#include <wasm_simd128.h>

#define PRECISION_BITS 22
#define HALF (1 << (PRECISION_BITS - 1))

#define EXPORT(name) __attribute__((export_name(name), visibility("default")))

/* One RGB pixel (plus one byte of the next, ignored) as four i32 lanes. */
static inline v128_t pixel(const uint8_t *p) {
  return wasm_u32x4_extend_low_u16x8(wasm_u16x8_load8x8(p));
}

/* (acc >> 22) saturated to 0..255, in the low bytes of the lanes. */
static inline v128_t pack(v128_t a, v128_t b, v128_t c, v128_t d) {
  const v128_t lo = wasm_i16x8_narrow_i32x4(wasm_i32x4_shr(a, PRECISION_BITS), wasm_i32x4_shr(b, PRECISION_BITS));
  const v128_t hi = wasm_i16x8_narrow_i32x4(wasm_i32x4_shr(c, PRECISION_BITS), wasm_i32x4_shr(d, PRECISION_BITS));
  return wasm_u8x16_narrow_i16x8(lo, hi);
}

static inline void store_pixel(uint8_t *t, v128_t acc, int last) {
  const v128_t s = wasm_i32x4_shr(acc, PRECISION_BITS);
  const v128_t n = wasm_u8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(s, s), s);
  if (last) {
    /* The row's last pixel: exactly three bytes, so the next row's first byte survives. */
    wasm_v128_store16_lane(t, n, 0);
    wasm_v128_store8_lane(t + 2, n, 2);
  } else {
    /* Four bytes; the fourth is the next pixel's red, written right after. */
    wasm_v128_store32_lane(t, n, 0);
  }
}

/*
 * Horizontal pass over `rows` source rows starting at `src` (already offset to the crop's
 * left edge and first needed row), `stride` bytes apart. For output column x the taps start
 * at src + first[x] * 3. `splat` is scratch for size * taps vectors. Writes rows of
 * size * 3 bytes, contiguous, into `temp`; with `flip`, column x lands at size - 1 - x.
 */
EXPORT("horizontal")
void horizontal(const uint8_t *src, int stride, int rows, const int32_t *first, const int32_t *weights, int taps, int size, int flip, uint8_t *temp, v128_t *splat) {
  const int row_bytes = size * 3;
  for (int i = 0; i < size * taps; i++) splat[i] = wasm_i32x4_splat(weights[i]);
  const v128_t half = wasm_i32x4_splat(HALF);
  int y = 0;
  /* Two rows at a time: the weight vectors are loaded once for both. */
  for (; y + 2 <= rows; y += 2) {
    const uint8_t *r0 = src + (long)y * stride;
    const uint8_t *r1 = r0 + stride;
    uint8_t *t0 = temp + y * row_bytes;
    uint8_t *t1 = t0 + row_bytes;
    for (int d = 0; d < size; d++) {
      const int x = flip ? size - 1 - d : d;
      const int off = first[x] * 3;
      const v128_t *w = splat + x * taps;
      const uint8_t *p0 = r0 + off;
      const uint8_t *p1 = r1 + off;
      v128_t a0 = half, a1 = half;
      for (int k = 0; k < taps; k++) {
        a0 = wasm_i32x4_add(a0, wasm_i32x4_mul(pixel(p0 + 3 * k), w[k]));
        a1 = wasm_i32x4_add(a1, wasm_i32x4_mul(pixel(p1 + 3 * k), w[k]));
      }
      store_pixel(t0 + d * 3, a0, d == size - 1);
      store_pixel(t1 + d * 3, a1, d == size - 1);
    }
  }
  for (; y < rows; y++) {
    const uint8_t *r0 = src + (long)y * stride;
    uint8_t *t0 = temp + y * row_bytes;
    for (int d = 0; d < size; d++) {
      const int x = flip ? size - 1 - d : d;
      const v128_t *w = splat + x * taps;
      const uint8_t *p0 = r0 + first[x] * 3;
      v128_t a0 = half;
      for (int k = 0; k < taps; k++) a0 = wasm_i32x4_add(a0, wasm_i32x4_mul(pixel(p0 + 3 * k), w[k]));
      store_pixel(t0 + d * 3, a0, d == size - 1);
    }
  }
}

/*
 * Vertical pass: output row y is sum_k weights[y * taps + k] * temp row (first[y] - row_low + k).
 * Rows are size * 3 bytes, contiguous in both `temp` and `out`.
 */
EXPORT("vertical")
void vertical(const uint8_t *temp, int row_low, const int32_t *first, const int32_t *weights, int taps, int size, uint8_t *out) {
  const int row_bytes = size * 3;
  const v128_t half = wasm_i32x4_splat(HALF);
  for (int y = 0; y < size; y++) {
    const uint8_t *base = temp + (first[y] - row_low) * row_bytes;
    const int32_t *w = weights + y * taps;
    uint8_t *o = out + y * row_bytes;
    /* Whole vectors: the last one of a row spills into the next row, which is rewritten next. */
    for (int i = 0; i < row_bytes; i += 16) {
      v128_t a0 = half, a1 = half, a2 = half, a3 = half;
      const uint8_t *p = base + i;
      for (int k = 0; k < taps; k++, p += row_bytes) {
        const v128_t wk = wasm_i32x4_splat(w[k]);
        const v128_t v = wasm_v128_load(p);
        const v128_t lo = wasm_u16x8_extend_low_u8x16(v);
        const v128_t hi = wasm_u16x8_extend_high_u8x16(v);
        a0 = wasm_i32x4_add(a0, wasm_i32x4_mul(wasm_u32x4_extend_low_u16x8(lo), wk));
        a1 = wasm_i32x4_add(a1, wasm_i32x4_mul(wasm_u32x4_extend_high_u16x8(lo), wk));
        a2 = wasm_i32x4_add(a2, wasm_i32x4_mul(wasm_u32x4_extend_low_u16x8(hi), wk));
        a3 = wasm_i32x4_add(a3, wasm_i32x4_mul(wasm_u32x4_extend_high_u16x8(hi), wk));
      }
      wasm_v128_store(o + i, pack(a0, a1, a2, a3));
    }
  }
}

/*
 * Normalised float32 from an HWC uint8 crop through `table` (3 x 256 floats, channel-major).
 * nchw != 0 writes three planes, otherwise interleaved HWC.
 */
EXPORT("normalize")
void normalize(const uint8_t *pixels, int size, const float *table, float *dst, int nchw) {
  const int plane = size * size;
  const float *t0 = table, *t1 = table + 256, *t2 = table + 512;
  if (nchw) {
    float *d0 = dst, *d1 = dst + plane, *d2 = dst + 2 * plane;
    for (int i = 0; i < plane; i++, pixels += 3) {
      d0[i] = t0[pixels[0]];
      d1[i] = t1[pixels[1]];
      d2[i] = t2[pixels[2]];
    }
  } else {
    for (int i = 0; i < plane; i++, pixels += 3, dst += 3) {
      dst[0] = t0[pixels[0]];
      dst[1] = t1[pixels[1]];
      dst[2] = t2[pixels[2]];
    }
  }
}
