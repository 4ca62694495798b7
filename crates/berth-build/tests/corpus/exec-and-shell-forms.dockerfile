FROM busybox
RUN ["echo", "exec form"]
RUN echo shell form
CMD ["a", 1]
ENTRYPOINT ['single', 'quotes']
CMD [ "spaced" , "out" ]
ENTRYPOINT []
