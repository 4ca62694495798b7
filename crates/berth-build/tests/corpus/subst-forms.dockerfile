FROM busybox
ENV SET=value EMPTY=
ENV plain=$SET braced=${SET} missing=${NOPE}x
ENV d1=${SET:-dflt} d2=${EMPTY:-dflt} d3=${NOPE:-dflt}
ENV e1=${SET-dflt} e2=${EMPTY-dflt} e3=${NOPE-dflt}
ENV p1=${SET:+alt} p2=${EMPTY:+alt} p3=${NOPE:+alt}
ENV q1=${SET+alt} q2=${EMPTY+alt} q3=${NOPE+alt}
