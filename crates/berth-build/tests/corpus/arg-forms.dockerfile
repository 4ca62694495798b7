FROM busybox
ARG a
ARG b=1 c=two
ARG d="quoted value" e=
ARG f=${b}0
ENV out=$a|$b|$c|$d|$e|$f
