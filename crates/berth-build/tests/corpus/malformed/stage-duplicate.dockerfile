FROM busybox AS build
RUN true
# the second one differs only in case
FROM busybox AS Build
