#!/bin/sh
# Rebuilds src/crop/wasm/render.wasm from src/crop/wasm/render.c.
#
# DEV ONLY. The compiled render.wasm is committed, and neither CI nor `npm run build` ever
# runs this script (`npm run build` only copies the committed binary into dist/). Run it
# after editing render.c, then run `npx vitest run test/crop` (the wasm renderer must stay
# byte-identical to src/crop/render-reference.ts) and commit the .c and the .wasm together.
#
# Needs clang and lld with the wasm32 target: Debian/Ubuntu `apt-get install -y clang lld`
# (checked with Debian clang 14). No libc, no emscripten, no wasi-sdk.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
src="$here/src/crop/wasm/render.c"
out="$here/src/crop/wasm/render.wasm"
CLANG=${CLANG:-clang}

# -ffp-contract=off: no fused multiply-add anywhere (wasm has none, but say so).
# -fno-builtin: freestanding, so the compiler must not call a memset/memcpy that does not exist.
"$CLANG" --target=wasm32 -nostdlib -O3 -msimd128 -ffreestanding -fno-builtin -ffp-contract=off \
  -Wall -Wextra -Werror \
  -Wl,--no-entry -Wl,--export=__heap_base -Wl,--strip-all \
  -o "$out.tmp" "$src"
mv "$out.tmp" "$out"
echo "wrote $out ($(wc -c < "$out") bytes)"
