/*
** engine.h: core.engine, Sentry's call-tree engine for aggregate.top (see
** engine.c).
*/
#ifndef SC_ENGINE_H
#define SC_ENGINE_H

#include "compat.h"

/* Registers engine() in the table on top. */
void lsc_engine_open(lua_State *L);

#endif
