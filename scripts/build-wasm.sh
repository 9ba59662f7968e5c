#!/bin/sh
# Rebuilds the committed WebAssembly: src/crop/wasm/render.wasm and render-shared.wasm from
# render.c (the renderer, on its own memory and on a batch ring's)
# and src/loader/wasm/mix.wasm from mix.c (Mixup's blend, on the batch ring's memory).
#
# DEV ONLY. The compiled .wasm files are committed, and neither CI nor `npm run build` ever
# runs this script (`npm run build` only copies the committed binaries into dist/). Run it
# after editing a .c file, then run `npx vitest run test/crop test/loader` (the renderer must
# stay byte-identical to src/crop/render-reference.ts, the blend to mix-pixels.ts's
# JavaScript) and commit the .c and the .wasm together.
#
# Needs clang and lld with the wasm32 target: Debian/Ubuntu `apt-get install -y clang lld`
# (checked with Debian clang 14). No libc, no emscripten, no wasi-sdk.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
CLANG=${CLANG:-clang}

# -ffp-contract=off: no fused multiply-add anywhere (wasm has none, but say so).
# -fno-builtin: freestanding, so the compiler must not call a memset/memcpy that does not exist.
flags="--target=wasm32 -nostdlib -O3 -msimd128 -ffreestanding -fno-builtin -ffp-contract=off -Wall -Wextra -Werror -Wl,--no-entry -Wl,--strip-all"

build() {
  out="$2"
  shift 2
  # shellcheck disable=SC2086
  "$CLANG" $flags "$@" -o "$out.tmp" "$src"
  mv "$out.tmp" "$out"
  echo "wrote $out ($(wc -c < "$out") bytes)"
}

src="$here/src/crop/wasm/render.c"
build "$src" "$here/src/crop/wasm/render.wasm" -Wl,--export=__heap_base
# The same renderer on a batch ring's shared memory, so render threads write each crop's
# values straight into its ring slot. Like the blend below: no stack, no data segments, one
# page of minimum memory that it never writes; every buffer is an offset the caller gives.
build "$src" "$here/src/crop/wasm/render-shared.wasm" -matomics -mbulk-memory \
  -Wl,--import-memory -Wl,--shared-memory -Wl,--max-memory=4294967296 -Wl,-z,stack-size=0 -Wl,--initial-memory=65536

# The blend imports the ring's shared memory (up to 4 GiB) and must not touch any of it but
# the crops it is given: no stack (stack-size=0) and no data segments, so the module's one
# page of minimum memory is never written.
src="$here/src/loader/wasm/mix.c"
build "$src" "$here/src/loader/wasm/mix.wasm" -matomics -mbulk-memory \
  -Wl,--import-memory -Wl,--shared-memory -Wl,--max-memory=4294967296 -Wl,-z,stack-size=0 -Wl,--initial-memory=65536
