# SPDX-License-Identifier: GPL-2.0
#
# Front for tools/ (c4).  `make run` is the main job, `make check` runs every
# check; both install what they need first.  `make help` lists the rest.

CARGO ?= cargo
C4 := $(CARGO) run --quiet --release --manifest-path tools/Cargo.toml --

.PHONY: run check setup base apply format-patches build boot test lint baseline bench stress help

run check setup base apply format-patches build boot test lint baseline bench stress help:
	@$(C4) $@ $(ARGS)
