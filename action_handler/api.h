/* api.h -- the action handler's HTTP routes (see docs/api/action-handler.yaml). */
#ifndef AH_API_H
#define AH_API_H

#include "http.h"

extern const http_route api_routes[];
extern const size_t api_nroutes;

#endif
