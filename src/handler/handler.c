/*
 * handler.c - the table of handlers, by name.
 */
#include <string.h>

#include "handler/handler.h"

const struct handler *const handlers[] = {
	&handler_echo,
	&handler_broadcast,
	&handler_backend,
	NULL
};

const struct handler *
handler_find(const char *name)
{
	size_t i;

	for (i = 0; handlers[i] != NULL; i++)
		if (strcmp(handlers[i]->name, name) == 0)
			return handlers[i];
	return NULL;
}
