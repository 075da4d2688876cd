/* meshd's version: `meshd --version`, the ready line, libmesh_build_info. */
#ifndef MESHD_VERSION_H
#define MESHD_VERSION_H

#define MESHD_VERSION "0.11.0"

#endif
