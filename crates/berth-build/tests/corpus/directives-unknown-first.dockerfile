# unknowndirective=value
# escape=`
FROM busybox
RUN echo \
  done
