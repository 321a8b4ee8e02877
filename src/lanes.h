/*
** lanes.h: core.lanes, the analysis's per-thread pass over samples (see
** lanes.c).
*/
#ifndef SC_LANES_H
#define SC_LANES_H

#include "compat.h"

/* Registers lanes() in the table on top. */
void lsc_lanes_open(lua_State *L);

#endif
