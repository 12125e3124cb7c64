module github.com/ledgerdesk/ledgerdesk/test

go 1.26.8
