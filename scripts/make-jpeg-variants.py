#!/usr/bin/env python3
"""Writes fixtures/jpeg/: JPEG encodings that sharp's encoder cannot make. Pillow's libjpeg-turbo
writes 4:2:2 chroma; libjpeg-turbo's cjpeg writes restart markers, SOF1 (16-bit quantisation
tables, which libjpeg emits below quality ~25 without -baseline), arithmetic coding and 4:4:0.
test/dataset/decode-wasm.test.ts decodes each with sharp and with the in-thread decoder and
requires the same pixels; the `refused-` files are ones the in-thread decoder must leave to sharp.

DEV ONLY: the files are committed; tests never run Python. Needs python3-pil, python3-numpy and
libjpeg-turbo-progs (Debian). Rerun after changing it, then commit the JPEGs with it.
"""
import os
import subprocess
import tempfile

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

# cjpeg encodes from a PPM of the same picture.
cjpeg = {
    'restart-every-row.jpg': ['-quality', '85', '-restart', '1'],
    'restart-3-blocks-444.jpg': ['-quality', '85', '-restart', '3B', '-sample', '1x1'],
    'restart-progressive.jpg': ['-quality', '80', '-progressive', '-restart', '2'],
    'sof1-16bit-tables.jpg': ['-quality', '5'],
    'progressive-16bit-tables.jpg': ['-quality', '5', '-progressive'],
    'refused-arithmetic.jpg': ['-quality', '85', '-arithmetic'],
    'refused-440.jpg': ['-quality', '85', '-sample', '1x2'],
}
with tempfile.TemporaryDirectory() as work:
    ppm = os.path.join(work, 'picture.ppm')
    image.save(ppm)
    for name, flags in cjpeg.items():
        with open(os.path.join(here, name), 'wb') as out:
            subprocess.run(['cjpeg', *flags, ppm], stdout=out, check=True)
