/*
 * One version for the project, set once in the Makefile (VERSION) and
 * printed by both programs.
 */
#ifndef VERSION_H
#define VERSION_H

#ifndef ACTIVITY_VERSION
#define ACTIVITY_VERSION	"unknown"	/* built without the Makefile */
#endif

#endif
