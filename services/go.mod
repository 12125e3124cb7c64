module github.com/ledgerdesk/ledgerdesk/services

go 1.26.8
