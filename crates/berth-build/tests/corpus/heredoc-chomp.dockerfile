FROM busybox
RUN <<-EOT
	echo tabs
		nested
	EOT
