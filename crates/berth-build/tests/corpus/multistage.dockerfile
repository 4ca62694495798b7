# build-arg: VERSION=2.0
ARG VERSION=1.0
FROM busybox:${VERSION} AS build
ARG VERSION
RUN echo $VERSION > /version
FROM scratch
COPY --from=build /version /version
COPY --from=0 /bin/busybox /bin/
