# fkd images. No Docker engine runs where fkd is developed, so this file is checked by
# test/deploy/dockerfile.test.ts (stages, copied paths, npm scripts) rather than built in CI.
#
#   docker build -t fkd .                         # CPU image (default target, the last stage)
#   docker build --target gpu -t fkd:gpu .        # CUDA 12 + cuDNN 9, onnxruntime CUDA provider
#   docker build --target gpu-tfjs -t fkd:tfjs .  # CUDA 11.2 + cuDNN 8.1 for tfjs-node-gpu
#
#   docker run --rm -v $PWD/data:/data fkd label --data /data/train --teacher /data/t.onnx --out s3://bucket/labels

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: compile TypeScript once; every runtime stage copies dist/ from here.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# The CPU binaries of onnxruntime-node ship in the npm package; skip its CUDA download here.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- gpu: onnxruntime-node with its CUDA 12 execution provider (`fkd label --device cuda`).
# The provider needs CUDA 12 and cuDNN 9; nvidia/cuda tags say plain "cudnn" for cuDNN 9 (from
# CUDA 12.3 on). The node binary comes from the build stage (glibc 2.28+ suffices).
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 AS gpu
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=build /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
WORKDIR /app
COPY package.json package-lock.json ./
# cuda12 makes onnxruntime-node's postinstall fetch libonnxruntime_providers_cuda.so (needs
# network at build time). The env var overrides the `skip` in .npmrc, which is not copied.
ENV ONNXRUNTIME_NODE_INSTALL=cuda12
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY fixtures ./fixtures
ENTRYPOINT ["node", "/app/bin/fkd.js"]
CMD ["--help"]

# ---- gpu-tfjs: TF.js teachers on the GPU. tfjs-node-gpu 4.22 links libtensorflow 2.9.1,
# which needs CUDA 11.2 and cuDNN 8.1 (it does not run on CUDA 12, and has no sm_90 kernels).
FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04 AS gpu-tfjs
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=build /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
WORKDIR /app
COPY package.json package-lock.json ./
ENV ONNXRUNTIME_NODE_INSTALL=skip
# Optional dependencies stay in: tfjs-node-gpu's installer downloads libtensorflow (GPU).
RUN npm ci --omit=dev --no-audit --no-fund
ENV TF_FORCE_GPU_ALLOW_GROWTH=true
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY fixtures ./fixtures
ENTRYPOINT ["node", "/app/bin/fkd.js"]
CMD ["--help"]

# ---- cpu (default): onnxruntime and TF.js on the CPU; runs everywhere.
FROM ${NODE_IMAGE} AS cpu
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY fixtures ./fixtures
ENTRYPOINT ["node", "/app/bin/fkd.js"]
CMD ["--help"]
