/** A decoded image: 8-bit sRGB, 3 channels, rows top to bottom, pixels interleaved (HWC). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}
