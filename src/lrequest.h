/*
** lrequest.h: the transfer engine as Lua userdata (see lrequest.c).
*/
#ifndef SC_LREQUEST_H
#define SC_LREQUEST_H

#include "compat.h"

#define SC_MULTI_MT "sentry.chunks.multi"
#define SC_REQUEST_MT "sentry.chunks.request"

/* Registers multi() in the table on top. */
void lsc_request_open(lua_State *L);

#endif
