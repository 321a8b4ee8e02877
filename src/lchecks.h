/*
** lchecks.h: core.bad_sample and core.bad_stack, the per-element half of
** an answer's shape test (see lchecks.c).
*/
#ifndef SC_LCHECKS_H
#define SC_LCHECKS_H

#include "compat.h"

/* Registers bad_sample() and bad_stack() in the table on top. */
void lsc_checks_open(lua_State *L);

#endif
