#!/usr/bin/env python3
"""Writes fixtures/jpeg/: JPEG encodings that sharp's encoder cannot make (4:2:2 chroma), encoded by Pillow's libjpeg-turbo. test/dataset/decode-wasm.test.ts decodes
each with sharp and with the in-thread decoder and requires the same pixels.

DEV ONLY: the files are committed; tests never run Python. Needs python3-pil and python3-numpy
(Debian). Rerun after changing it, then commit the JPEGs with it.
"""
import os

import numpy as np
from PIL import Image

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'jpeg')
os.makedirs(here, exist_ok=True)
rng = np.random.default_rng(2022)
# Odd sides, so the last MCU row and column are partial.
y, x = np.mgrid[0:61, 0:97]
planes = [128 + 90 * np.sin(x / (5 + c) + c) * np.cos(y / (7 - c)) + rng.normal(0, 18, x.shape) for c in range(3)]
image = Image.fromarray(np.stack(planes, -1).clip(0, 255).astype('uint8'))
image.save(os.path.join(here, '422.jpg'), quality=88, subsampling=1)
image.save(os.path.join(here, '422-progressive.jpg'), quality=80, subsampling=1, progressive=True, optimize=True)
