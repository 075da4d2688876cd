// dns_client: a Go program with Go's own resolver (built CGO_ENABLED=0 by
// dns_names.sh), which reads /etc/resolv.conf and asks the nameservers
// itself: LD_PRELOAD cannot reach it, meshd's DNS can.
//
//	dns_client URL            GET URL, print the body
//	dns_client -resolve NAME  print NAME's addresses
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-resolve" {
		addrs, err := net.DefaultResolver.LookupHost(context.Background(), os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, a := range addrs {
			fmt.Println(a)
		}
		return
	}
	c := &http.Client{Timeout: 10 * time.Second}
	r, err := c.Get(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer r.Body.Close()
	io.Copy(os.Stdout, r.Body)
}
