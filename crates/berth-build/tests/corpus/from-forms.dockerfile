FROM scratch
FROM busybox:1.36 as Base
FROM --platform=linux/amd64 registry.example.com:5000/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef AS pinned
FROM base
