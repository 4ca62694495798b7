FROM busybox AS base
ENV A=1
FROM base AS child
ENV B=$A-2
FROM busybox
ENV C=$A
