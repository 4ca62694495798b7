# About my dockerfile
# escape=`
FROM busybox
RUN echo a \
  b
