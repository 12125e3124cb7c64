module github.com/ledgerdesk/ledgerdesk/contracts

go 1.26.8
