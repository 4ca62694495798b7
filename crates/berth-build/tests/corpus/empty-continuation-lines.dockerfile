FROM busybox
RUN echo hello \

world
