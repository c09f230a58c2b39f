/*
 * The server's settings and their defaults, in one place so the daemon
 * and the tests start from the same configuration.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"

/* Every setting at its default; main() then applies the flags. */
void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->listen_host = "localhost";
	c->listen_port = 3780;
	c->remote_port = 3780;
	c->announce_ms = 5000;
	c->max_msg = 1024 * 1024;
	c->client_outbuf = 16 * 1024 * 1024;
	c->server_outbuf = 64 * 1024 * 1024;
	c->max_conns = 16384;
	c->max_servers = 256;
	c->max_pending_reg = 1024;
	c->register_timeout_ms = 5000;
	c->auth_timeout_ms = 10000;
	c->liveness_ms = -1;
	c->heartbeat_ms = 500;
	c->dcfg.order_wait_ms = 200;
	c->dcfg.report_timeout_ms = 2000;
	c->dcfg.replay_max = 100000;
	c->dcfg.replay_bytes = 32 * 1024 * 1024;
	c->dcfg.replay_window_ms = 60000;
	c->dcfg.max_senders = 65536;
	c->dcfg.max_reports = 65536;
	c->history.max = HISTORY_MAX_DEFAULT;
	c->history.bytes = HISTORY_BYTES_DEFAULT;
	c->history.age_ms = (uint64_t)HISTORY_AGE_DEFAULT * 1000;
	c->heartbeat_timeout_ms = 2000;
	c->forget_ms = 600000;
	c->max_users = 1000000;
	c->register_rate = 100;
	c->register_conn_rate = 10;
	c->login_fail_delay_ms = 1000;
	c->allow_anonymous = 1;
	c->allow_register = 1;
	c->verbose = LOG_LVL_INFO;
	c->hash_threads = HASHPOOL_THREADS;
	c->hash_cpu = HASHPOOL_CPU;
	c->login_cache_ttl_ms = LOGINCACHE_TTL_MS;
	c->login_cache_size = LOGINCACHE_SIZE;
}

/* mkdir -p, owner only: a journal is nobody else's business. */
static int
config_mkdirs(char *path)
{
	char	*p;

	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * The data directory when --data-dir is not given: a directory per
 * port under the service manager's $STATE_DIRECTORY (its first entry),
 * else under $XDG_STATE_HOME or ~/.local/state, so registered users
 * survive a restart without the operator asking.
 */
int
config_default_data_dir(int port, char *buf, size_t len, char *err,
    size_t errlen)
{
	const char	*base;
	size_t		 n;
	int		 w;

	if ((base = getenv("STATE_DIRECTORY")) != NULL && *base == '/') {
		n = strcspn(base, ":");
		w = snprintf(buf, len, "%.*s/%d", (int)n, base, port);
	} else if ((base = getenv("XDG_STATE_HOME")) != NULL && *base == '/')
		w = snprintf(buf, len, "%s/activity-server/%d", base, port);
	else if ((base = getenv("HOME")) != NULL && *base == '/')
		w = snprintf(buf, len, "%s/.local/state/activity-server/%d",
		    base, port);
	else {
		snprintf(err, errlen, "no $STATE_DIRECTORY, $XDG_STATE_HOME "
		    "or $HOME for the default data directory; give "
		    "--data-dir DIR or --data-dir none");
		return -1;
	}
	if (w < 0 || (size_t)w >= len) {
		snprintf(err, errlen, "the default data directory's path is "
		    "too long");
		return -1;
	}
	if (config_mkdirs(buf) != 0) {
		snprintf(err, errlen, "%s: %s", buf, strerror(errno));
		return -1;
	}
	return 0;
}

/* Append one command-line word made from line `line` of the file. */
static int
config_file_add(struct config_file *cf, const char *word, int line)
{
	char	**argv;
	int	 *lines, cap;

	if (cf->argc + 1 >= cf->cap) {
		cap = cf->cap == 0 ? 16 : 2 * cf->cap;
		if ((argv = reallocarray(cf->argv, (size_t)cap,
		    sizeof *argv)) == NULL)
			return -1;
		cf->argv = argv;
		if ((lines = reallocarray(cf->line, (size_t)cap,
		    sizeof *lines)) == NULL)
			return -1;
		cf->line = lines;
		cf->cap = cap;
	}
	if ((cf->argv[cf->argc] = strdup(word)) == NULL)
		return -1;
	cf->line[cf->argc++] = line;
	cf->argv[cf->argc] = NULL;
	return 0;
}

/* Is this no-argument key's value a yes (1), a no (0), or neither? */
static int
config_bool(const char *v)
{
	if (*v == '\0' || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "on") == 0 || strcmp(v, "1") == 0)
		return 1;
	if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
	    strcmp(v, "off") == 0 || strcmp(v, "0") == 0)
		return 0;
	return -1;
}

/*
 * Split one line into key and value in place: "key = value", "key" for
 * a switch, a value optionally in double quotes, and a comment from a
 * '#' at the start or after white space.  NULL key: nothing on the line.
 */
static const char *
config_split(char *s, char **key, char **val, int *has_eq)
{
	char	*p, *e;

	*key = *val = NULL;
	*has_eq = 0;
	s += strspn(s, " \t");
	if (*s == '\0' || *s == '#')
		return NULL;
	*key = s;
	s += strcspn(s, " \t=");
	p = s + strspn(s, " \t");
	if (*p == '=') {
		*has_eq = 1;
		p++;
	}
	*s = '\0';
	p += strspn(p, " \t");
	if (*p == '"') {
		if ((e = strchr(p + 1, '"')) == NULL)
			return "a quoted value without its closing quote";
		*e++ = '\0';
		*val = p + 1;
		e += strspn(e, " \t");
		if (*e != '\0' && *e != '#')
			return "text after the closing quote";
		return NULL;
	}
	for (e = p; *e != '\0'; e++)
		if (*e == '#' && (e == p || e[-1] == ' ' || e[-1] == '\t'))
			break;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*e = '\0';
	*val = p;
	return NULL;
}

/*
 * Read a config file into command-line words ("--key=value"), each with
 * its line number, so the command line's own parser applies them: the
 * keys are exactly the long options of opts, and an option added there
 * is a config key at once.  Errors name the file and line.
 */
int
config_file_read(struct config_file *cf, const char *path,
    const struct option *opts, char *err, size_t errlen)
{
	static const char	*not_here[] = { "config", "check-config",
				    "help", "version", "c", "h", "V", NULL };
	const struct option	*o;
	const char		*why;
	char			*buf = NULL, *key, *val, *word = NULL;
	size_t			 cap = 0;
	ssize_t			 n;
	FILE			*f;
	int			 lineno = 0, has_eq, i, b, rc = -1;

	memset(cf, 0, sizeof *cf);
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((cf->path = strdup(path)) == NULL ||
	    config_file_add(cf, "activity-server", 0) != 0)
		goto nomem;
	while ((n = getline(&buf, &cap, f)) != -1) {
		lineno++;
		if ((size_t)n > CONFIG_LINE_MAX || strlen(buf) != (size_t)n) {
			snprintf(err, errlen, "%s:%d: line too long or not "
			    "text", path, lineno);
			goto out;
		}
		buf[strcspn(buf, "\r\n")] = '\0';
		if ((why = config_split(buf, &key, &val, &has_eq)) != NULL) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			goto out;
		}
		if (key == NULL)
			continue;
		for (o = opts; o->name != NULL; o++)
			if (strcmp(o->name, key) == 0)
				break;
		if (o->name == NULL) {
			snprintf(err, errlen, "%s:%d: unknown key '%s'", path,
			    lineno, key);
			goto out;
		}
		for (i = 0; not_here[i] != NULL; i++)
			if (strcmp(key, not_here[i]) == 0)
				break;
		if (not_here[i] != NULL) {
			snprintf(err, errlen, "%s:%d: '%s' is for the command "
			    "line only", path, lineno, key);
			goto out;
		}
		if (cf->argc >= CONFIG_KEYS_MAX) {
			snprintf(err, errlen, "%s:%d: more than %d settings",
			    path, lineno, CONFIG_KEYS_MAX);
			goto out;
		}
		if (o->has_arg != no_argument) {
			if (!has_eq) {
				snprintf(err, errlen, "%s:%d: expected "
				    "'%s = value'", path, lineno, key);
				goto out;
			}
			if (asprintf(&word, "--%s=%s", key, val) == -1) {
				word = NULL;
				goto nomem;
			}
		} else {
			if ((b = config_bool(val)) == -1) {
				snprintf(err, errlen, "%s:%d: invalid value "
				    "'%s' for %s: expected yes or no", path,
				    lineno, val, key);
				goto out;
			}
			if (!has_eq && *val != '\0') {
				snprintf(err, errlen, "%s:%d: expected "
				    "'%s' or '%s = yes'", path, lineno, key,
				    key);
				goto out;
			}
			if (b == 0)
				continue;
			if (asprintf(&word, "--%s", key) == -1) {
				word = NULL;
				goto nomem;
			}
		}
		if (config_file_add(cf, word, lineno) != 0)
			goto nomem;
		free(word);
		word = NULL;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "%s: out of memory", path);
out:
	free(word);
	free(buf);
	fclose(f);
	if (rc != 0)
		config_file_free(cf);
	return rc;
}

/* Free what config_file_read() made. */
void
config_file_free(struct config_file *cf)
{
	int	 i;

	for (i = 0; i < cf->argc; i++)
		free(cf->argv[i]);
	free(cf->argv);
	free(cf->line);
	free(cf->path);
	memset(cf, 0, sizeof *cf);
}

/*
 * What SIGHUP may change without a restart: the log level and the
 * limits that are read where they apply.  Everything else (addresses,
 * the secret, the data directory, timings the tree agreed on) needs a
 * restart.
 */
void
config_reload_apply(struct config *cur, const struct config *c)
{
	cur->verbose = c->verbose;
	cur->max_msg = c->max_msg;
	cur->client_outbuf = c->client_outbuf;
	cur->server_outbuf = c->server_outbuf;
	cur->max_conns = c->max_conns;
	cur->max_pending_reg = c->max_pending_reg;
	cur->register_timeout_ms = c->register_timeout_ms;
	cur->auth_timeout_ms = c->auth_timeout_ms;
	cur->register_rate = c->register_rate;
	cur->register_conn_rate = c->register_conn_rate;
	cur->login_fail_delay_ms = c->login_fail_delay_ms;
	cur->anon_idle_timeout_ms = c->anon_idle_timeout_ms;
	cur->allow_anonymous = c->allow_anonymous;
	cur->allow_register = c->allow_register;
}
