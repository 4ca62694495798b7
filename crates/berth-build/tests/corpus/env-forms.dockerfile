FROM busybox
ENV A=1 B="two words" C=three\ words D='single $A'
ENV LEGACY value with   spaces
ENV E=$A F=${B} G="${A}x"
ENV EMPTY=
