FROM busybox
ONBUILD ADD . /app/src
ONBUILD RUN ["make", "-C", "/app/src"]
onbuild env X=1
