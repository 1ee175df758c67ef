      *----------------------------------------------------------------*
      * PERMIT.cpy - one building-permit change for the county's       *
      * nightly COBOL batch job. 70 bytes per record, fixed length.    *
      * ACTION: I insert, U update, D delete (written by hms-sync).    *
      *----------------------------------------------------------------*
       01  PERMIT-REC.
           05  ACTION              PIC X.
               88  ACTION-INSERT   VALUE 'I'.
               88  ACTION-UPDATE   VALUE 'U'.
               88  ACTION-DELETE   VALUE 'D'.
           05  PERMIT-NO           PIC X(12).
           05  PARCEL-ID           PIC X(10).
           05  OWNER-NAME          PIC X(24).
           05  STATUS-CODE         PIC X.
               88  STATUS-PENDING  VALUE 'P'.
               88  STATUS-APPROVED VALUE 'A'.
               88  STATUS-REJECTED VALUE 'R'.
           05  FEE-AMOUNT          PIC S9(7)V99 COMP-3.
           05  ISSUED-DATE         PIC 9(8).
           05  INSPECTIONS         PIC S9(4) COMP.
           05  FILLER              PIC X(7).
