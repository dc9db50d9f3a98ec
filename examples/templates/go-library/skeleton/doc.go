// Package ${{ values.name | replace("-", "") }} is the ${{ values.name }} library.
package ${{ values.name | replace("-", "") }}
