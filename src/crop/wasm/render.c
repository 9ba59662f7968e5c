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
 *  - Normalisation runs writeNormalized's own float64 operations on its own constants
 *    (normalizationCoefficients), then rounds to float32 once, as a Float32Array store does.
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
 *
 * `rows_taps` is inlined with the tap count as a constant for the common counts (2-8 cover
 * bilinear and bicubic at the usual shrink factors), so the tap loop is fully unrolled.
 */
static inline __attribute__((always_inline)) void rows_taps(const uint8_t *src, int stride, int rows, const int32_t *first, const v128_t *splat, const int taps, int size, int flip, uint8_t *temp) {
  const int row_bytes = size * 3;
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

EXPORT("horizontal")
void horizontal(const uint8_t *src, int stride, int rows, const int32_t *first, const int32_t *weights, int taps, int size, int flip, uint8_t *temp, v128_t *splat) {
  for (int i = 0; i < size * taps; i++) splat[i] = wasm_i32x4_splat(weights[i]);
  switch (taps) {
    case 2: rows_taps(src, stride, rows, first, splat, 2, size, flip, temp); break;
    case 3: rows_taps(src, stride, rows, first, splat, 3, size, flip, temp); break;
    case 4: rows_taps(src, stride, rows, first, splat, 4, size, flip, temp); break;
    case 5: rows_taps(src, stride, rows, first, splat, 5, size, flip, temp); break;
    case 6: rows_taps(src, stride, rows, first, splat, 6, size, flip, temp); break;
    case 7: rows_taps(src, stride, rows, first, splat, 7, size, flip, temp); break;
    case 8: rows_taps(src, stride, rows, first, splat, 8, size, flip, temp); break;
    default: rows_taps(src, stride, rows, first, splat, taps, size, flip, temp); break;
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
 * Normalised float32 from an HWC uint8 crop: (v * scale[c] - shift[c]) in float64, rounded
 * to float32, which is what writeNormalized computes in JavaScript (a float64 multiply, a
 * float64 subtract, then the store into a Float32Array rounds to nearest even). f64x2 mul,
 * sub and f32x4.demote_f64x2_zero are the same IEEE operations, so the floats are the same.
 * `coef` holds the six float64s scale0..2, shift0..2. nchw != 0 writes three planes,
 * otherwise interleaved HWC.
 */
static inline v128_t norm4(v128_t u32, v128_t scale_lo, v128_t shift_lo, v128_t scale_hi, v128_t shift_hi) {
  const v128_t lo = wasm_f64x2_sub(wasm_f64x2_mul(wasm_f64x2_convert_low_i32x4(u32), scale_lo), shift_lo);
  const v128_t hi = wasm_f64x2_sub(wasm_f64x2_mul(wasm_f64x2_convert_low_i32x4(wasm_i32x4_shuffle(u32, u32, 2, 3, 2, 3)), scale_hi), shift_hi);
  return wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/* Sixteen bytes to sixteen floats at dst, with the (scale, shift) pairs for lanes 0-1, 2-3, ... cycling through p[0..2]. */
static inline void norm16(v128_t bytes, float *dst, const v128_t *scale, const v128_t *shift, int a, int b, int c, int d, int e, int f, int g, int h) {
  const v128_t lo = wasm_u16x8_extend_low_u8x16(bytes), hi = wasm_u16x8_extend_high_u8x16(bytes);
  wasm_v128_store(dst, norm4(wasm_u32x4_extend_low_u16x8(lo), scale[a], shift[a], scale[b], shift[b]));
  wasm_v128_store(dst + 4, norm4(wasm_u32x4_extend_high_u16x8(lo), scale[c], shift[c], scale[d], shift[d]));
  wasm_v128_store(dst + 8, norm4(wasm_u32x4_extend_low_u16x8(hi), scale[e], shift[e], scale[f], shift[f]));
  wasm_v128_store(dst + 12, norm4(wasm_u32x4_extend_high_u16x8(hi), scale[g], shift[g], scale[h], shift[h]));
}

EXPORT("normalize")
void normalize(const uint8_t *pixels, int size, const double *coef, float *dst, int nchw) {
  const int plane = size * size;
  const double s0 = coef[0], s1 = coef[1], s2 = coef[2], m0 = coef[3], m1 = coef[4], m2 = coef[5];
  int i = 0;
  if (nchw) {
    float *d0 = dst, *d1 = dst + plane, *d2 = dst + 2 * plane;
    /* One channel per plane: every lane pair has the same (scale, shift). */
    const v128_t scale[3] = {wasm_f64x2_splat(s0), wasm_f64x2_splat(s1), wasm_f64x2_splat(s2)};
    const v128_t shift[3] = {wasm_f64x2_splat(m0), wasm_f64x2_splat(m1), wasm_f64x2_splat(m2)};
    for (; i + 16 <= plane; i += 16) {
      const uint8_t *p = pixels + i * 3;
      const v128_t v0 = wasm_v128_load(p), v1 = wasm_v128_load(p + 16), v2 = wasm_v128_load(p + 32);
      /* De-interleave 16 RGB pixels into 16 R, 16 G and 16 B bytes. */
      const v128_t r = wasm_i8x16_shuffle(wasm_i8x16_shuffle(v0, v1, 0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0, 0, 0, 0, 0), v2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 20, 23, 26, 29);
      const v128_t g = wasm_i8x16_shuffle(wasm_i8x16_shuffle(v0, v1, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 0, 0, 0, 0, 0), v2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 18, 21, 24, 27, 30);
      const v128_t b = wasm_i8x16_shuffle(wasm_i8x16_shuffle(v0, v1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0, 0, 0, 0, 0, 0), v2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 19, 22, 25, 28, 31);
      norm16(r, d0 + i, scale, shift, 0, 0, 0, 0, 0, 0, 0, 0);
      norm16(g, d1 + i, scale, shift, 1, 1, 1, 1, 1, 1, 1, 1);
      norm16(b, d2 + i, scale, shift, 2, 2, 2, 2, 2, 2, 2, 2);
    }
    for (; i < plane; i++) {
      const uint8_t *p = pixels + i * 3;
      d0[i] = (float)(p[0] * s0 - m0);
      d1[i] = (float)(p[1] * s1 - m1);
      d2[i] = (float)(p[2] * s2 - m2);
    }
  } else {
    /* Interleaved: lane pairs cycle through the channel pairs (0,1), (2,0), (1,2). */
    const v128_t scale[3] = {wasm_f64x2_make(s0, s1), wasm_f64x2_make(s2, s0), wasm_f64x2_make(s1, s2)};
    const v128_t shift[3] = {wasm_f64x2_make(m0, m1), wasm_f64x2_make(m2, m0), wasm_f64x2_make(m1, m2)};
    const int values = plane * 3;
    for (; i + 48 <= values; i += 48) {
      norm16(wasm_v128_load(pixels + i), dst + i, scale, shift, 0, 1, 2, 0, 1, 2, 0, 1);
      norm16(wasm_v128_load(pixels + i + 16), dst + i + 16, scale, shift, 2, 0, 1, 2, 0, 1, 2, 0);
      norm16(wasm_v128_load(pixels + i + 32), dst + i + 32, scale, shift, 1, 2, 0, 1, 2, 0, 1, 2);
    }
    for (; i < values; i += 3) {
      dst[i] = (float)(pixels[i] * s0 - m0);
      dst[i + 1] = (float)(pixels[i + 1] * s1 - m1);
      dst[i + 2] = (float)(pixels[i + 2] * s2 - m2);
    }
  }
}

/*
 * RGBX (a padding byte after every pixel, as the in-thread JPEG decoder writes) to RGB, in
 * place at `pixels`: the renderer's image format. Forward is safe in place: step i reads
 * bytes 16i..16i+15 before its store covers 12i..12i+15, and 12i + 16 <= 16(i + 1). The
 * store's last four bytes are garbage that the next step (or the caller's padding) replaces;
 * the caller provides 16 writable bytes after the RGB image.
 */
EXPORT("compact")
void compact(uint8_t *pixels, int count) {
  int i = 0;
  for (; i + 4 <= count; i += 4) {
    const v128_t v = wasm_v128_load(pixels + i * 4);
    wasm_v128_store(pixels + i * 3, wasm_i8x16_shuffle(v, v, 0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 0, 0, 0, 0));
  }
  for (; i < count; i++) {
    pixels[i * 3] = pixels[i * 4];
    pixels[i * 3 + 1] = pixels[i * 4 + 1];
    pixels[i * 3 + 2] = pixels[i * 4 + 2];
  }
}

/*
 * An HWC uint8 crop to three planes (CHW) at dst: what writeBytes does for an NCHW uint8
 * batch, with normalize's de-interleaving shuffles, 16 pixels at a time.
 */
EXPORT("planar")
void planar(const uint8_t *pixels, int size, uint8_t *dst) {
  const int plane = size * size;
  uint8_t *d0 = dst, *d1 = dst + plane, *d2 = dst + 2 * plane;
  int i = 0;
  for (; i + 16 <= plane; i += 16) {
    const uint8_t *p = pixels + i * 3;
    const v128_t v0 = wasm_v128_load(p), v1 = wasm_v128_load(p + 16), v2 = wasm_v128_load(p + 32);
    wasm_v128_store(d0 + i, wasm_i8x16_shuffle(wasm_i8x16_shuffle(v0, v1, 0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0, 0, 0, 0, 0), v2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 20, 23, 26, 29));
    wasm_v128_store(d1 + i, wasm_i8x16_shuffle(wasm_i8x16_shuffle(v0, v1, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 0, 0, 0, 0, 0), v2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 18, 21, 24, 27, 30));
    wasm_v128_store(d2 + i, wasm_i8x16_shuffle(wasm_i8x16_shuffle(v0, v1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0, 0, 0, 0, 0, 0), v2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 19, 22, 25, 28, 31));
  }
  for (; i < plane; i++) {
    d0[i] = pixels[i * 3];
    d1[i] = pixels[i * 3 + 1];
    d2[i] = pixels[i * 3 + 2];
  }
}
