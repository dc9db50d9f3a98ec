# Allow everything, like Backstage's allow-all policy module.
package understage.authz

decision := {"result": "ALLOW"}
