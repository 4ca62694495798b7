    from busybox
	run echo tab-indented
  Cmd echo mixed case
  # an indented comment
