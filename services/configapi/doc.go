// Package configapi serves tenant configuration as versioned data: PUT validates a whole
// document and appends it to the CONFIG stream as the tenant's next version; GET returns
// the current version.
package configapi
