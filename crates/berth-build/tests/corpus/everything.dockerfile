FROM busybox
MAINTAINER Jane Doe <jane@example.com>
LABEL org.example.name="demo app" version=1.0
COPY hello.txt /srv/
ADD files.tar /opt/
WORKDIR /srv
VOLUME /data
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /srv/hello.txt"]
USER nobody:nogroup
HEALTHCHECK --interval=5s --retries=2 CMD test -f /srv/hello.txt
ONBUILD COPY . /app
STOPSIGNAL SIGTERM
SHELL ["/bin/sh", "-ec"]
