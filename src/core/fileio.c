#include "mpqx/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fileio_read(const char *path, char **out, size_t *len, struct mpqx_err *err)
{
	*out = NULL;
	/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; it changes
	 * nothing for the regular files read below. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, MPQX_EINPUT, "%s: cannot open: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(err, MPQX_EINPUT, "%s: not a regular file", path);
	}
	if ((size_t)st.st_size > MPQX_FILE_MAX) {
		close(fd);
		return err_set(err, MPQX_EINPUT, "%s: too large (%lld bytes, at most %zu)", path,
			       (long long)st.st_size, MPQX_FILE_MAX);
	}
	size_t size = (size_t)st.st_size;
	char *buf = malloc(size + 1);
	if (!buf) {
		close(fd);
		return err_set(err, MPQX_ENOMEM, "%s: out of memory", path);
	}
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			close(fd);
			return err_set(err, MPQX_EINPUT, "%s: read failed: %s", path, strerror(e));
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	if (len)
		*len = got;
	return MPQX_OK;
}

int fileio_expand_home(const char *path, char *out, size_t size)
{
	const char *home = getenv("HOME");
	if (path[0] == '~' && (path[1] == '\0' || path[1] == '/') && home && *home) {
		int n = snprintf(out, size, "%s%s", home, path + 1);
		if (n >= 0 && (size_t)n < size)
			return 0;
	}
	int n = snprintf(out, size, "%s", path);
	return n >= 0 && (size_t)n < size ? 0 : -1;
}

void fileio_dirname(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		snprintf(dir, size, ".");
		return;
	}
	size_t n = (size_t)(slash - path);
	if (n == 0)
		n = 1;
	if (n >= size)
		n = size - 1;
	memcpy(dir, path, n);
	dir[n] = '\0';
}

int fileio_join(char *out, size_t size, const char *dir, const char *name)
{
	int n;
	if (name[0] == '/' || !dir[0] || strcmp(dir, ".") == 0)
		n = snprintf(out, size, "%s", name);
	else
		n = snprintf(out, size, "%s/%s", dir, name);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

void fileio_line_col(const char *text, size_t off, int *line, int *col)
{
	int l = 1, c = 1;
	for (size_t i = 0; i < off && text[i]; i++) {
		if (text[i] == '\n') {
			l++;
			c = 1;
		} else {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

static void (*save_hook)(const char *tmp_path, const char *path);

void fileio_set_save_hook(void (*hook)(const char *tmp_path, const char *path))
{
	save_hook = hook;
}

int fileio_write_atomic(const char *path, const char *data, size_t len, struct mpqx_err *err)
{
	char tmp[4200];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
		return err_set(err, MPQX_EINPUT, "%s: path too long", path);
	/* Only a regular file is replaced: the rename would put a file in place of a device (as root,
	 * /dev/null), a FIFO or a socket. An existing file keeps its permissions. */
	struct stat st;
	mode_t mode = 0644;
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return err_set(err, MPQX_EINPUT, "%s: exists and is not a regular file; not replaced", path);
		mode = st.st_mode & 07777;
	}
	int fd = mkstemp(tmp);
	if (fd < 0)
		return err_set(err, MPQX_EIO, "%s: cannot create a temporary file: %s", path, strerror(errno));
	size_t half = save_hook ? len / 2 : len;
	int wr = write_all(fd, data, half);
	if (wr == 0 && save_hook)
		save_hook(tmp, path);
	if (wr != 0 || write_all(fd, data + half, len - half) != 0 || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return err_set(err, MPQX_EIO, "%s: write failed: %s", path, strerror(e));
	}
	fchmod(fd, mode);
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return err_set(err, MPQX_EIO, "%s: cannot replace: %s", path, strerror(e));
	}
	char dir[4096];
	fileio_dirname(path, dir, sizeof dir);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return MPQX_OK;
}
