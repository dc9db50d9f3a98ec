// Not Go code: this file only makes the folder its own module, so that the
// Go packages some npm dependencies ship inside node_modules stay out of
// ./... (go build, go vet and go test of the understage module).
module understage.invalid/app-web

go 1.26
