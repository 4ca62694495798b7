# build-arg: GIVEN=from-cli
ARG GLOBAL=g
ARG GIVEN=default
FROM busybox AS first
ENV before=$GLOBAL
ARG GLOBAL
ARG GIVEN
ENV after=$GLOBAL given=$GIVEN
FROM busybox
ENV second=$GLOBAL-$GIVEN
