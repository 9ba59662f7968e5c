/**
 * A crop box in integer pixels of the decoded, EXIF-oriented image, with the same
 * meaning as torchvision's RandomResizedCrop parameters (i, j, h, w).
 */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** One sampled crop: where it is and whether it is mirrored left-right. */
export interface CropSpec extends CropBox {
  flip: boolean;
}
