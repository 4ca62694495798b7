FROM busybox
ENV A=a
ENV n1=${NOPE:-${A}} n2=${NOPE:-${ALSO:-deep}} n3=${A:+[${A}]}
ENV esc=\$A dq="$A \$A" sq='$A' mixed="x"'$A'$A
ENV dollar=$ lone=a$ bad=$-
