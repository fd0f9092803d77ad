/* SPDX-License-Identifier: GPL-2.0 */
/*
 * UAPI headers that bindgen turns into src/uapi.rs (via OUT_DIR/uapi.rs).
 * Only kernel UAPI headers go here: they are parsed from the -isystem
 * directory given by C4_UAPI_INCLUDE, never from the host's /usr/include.
 */
#include <linux/types.h>
#include <linux/sched.h>
#include <linux/wait.h>
#include <asm/unistd.h>
#if __has_include(<linux/clonefd.h>)
#include <linux/clonefd.h>
#endif
#if __has_include(<linux/pidfd.h>)
#include <linux/pidfd.h>
#endif
