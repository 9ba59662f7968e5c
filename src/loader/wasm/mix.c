// Mixup's pixel blend, run in place on the loader's batch ring: the ring's pixel memory is a
// shared WebAssembly.Memory that this module imports, so no crop is copied in or out.
// Built by scripts/build-wasm.sh (SIMD128, no FMA, no stack, no data); the .wasm is committed.
//
// Both kernels define the loader's Mixup values exactly (src/loader/mix-pixels.ts repeats
// them in JavaScript for rings outside wasm memory, bit for bit):
//   float32: own = fl(fl(lambda * own) + fl(rest * partner)), lambda and rest float32;
//   uint8:   own = (w * own + (256 - w) * partner + 128) >> 8, in 16-bit lanes (it fits:
//            255 * 256 + 128 < 65536).
typedef unsigned char u8;
typedef unsigned short u16;

__attribute__((export_name("blend_f32")))
void blend_f32(float *restrict own, const float *restrict partner, unsigned n, float lambda, float rest) {
  for (unsigned i = 0; i < n; i++) own[i] = lambda * own[i] + rest * partner[i];
}

__attribute__((export_name("blend_u8")))
void blend_u8(u8 *restrict own, const u8 *restrict partner, unsigned n, unsigned w) {
  u16 weight = (u16)w, rest = (u16)(256 - w);
  for (unsigned i = 0; i < n; i++) own[i] = (u8)((u16)(weight * own[i] + rest * partner[i] + 128) >> 8);
}
