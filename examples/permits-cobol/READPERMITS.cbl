      *----------------------------------------------------------------*
      * READPERMITS - reads a PERMITS file written by hms-sync and     *
      * DISPLAYs every record, the way the county batch job sees it.   *
      * Usage: ./READPERMITS <file>                                    *
      *----------------------------------------------------------------*
       IDENTIFICATION DIVISION.
       PROGRAM-ID. READPERMITS.
       ENVIRONMENT DIVISION.
       INPUT-OUTPUT SECTION.
       FILE-CONTROL.
           SELECT PERMIT-FILE ASSIGN TO DYNAMIC WS-FILE-NAME
               ORGANIZATION IS SEQUENTIAL
               FILE STATUS IS WS-STATUS.
       DATA DIVISION.
       FILE SECTION.
       FD  PERMIT-FILE.
           COPY "PERMIT.cpy".
       WORKING-STORAGE SECTION.
       01  WS-FILE-NAME            PIC X(256).
       01  WS-STATUS               PIC XX.
       01  WS-EOF                  PIC X VALUE 'N'.
       01  WS-COUNT                PIC 9(6) VALUE 0.
       01  WS-FEE                  PIC -(7)9.99.
       01  WS-INSPECTIONS          PIC -(4)9.
       PROCEDURE DIVISION.
           ACCEPT WS-FILE-NAME FROM ARGUMENT-VALUE
           OPEN INPUT PERMIT-FILE
           IF WS-STATUS NOT = '00'
               DISPLAY 'READPERMITS: cannot open '
                   FUNCTION TRIM(WS-FILE-NAME)
                   ' (file status ' WS-STATUS ')'
               MOVE 1 TO RETURN-CODE
               STOP RUN
           END-IF
           PERFORM UNTIL WS-EOF = 'Y'
               READ PERMIT-FILE
                   AT END
                       MOVE 'Y' TO WS-EOF
                   NOT AT END
                       ADD 1 TO WS-COUNT
                       MOVE FEE-AMOUNT TO WS-FEE
                       MOVE INSPECTIONS TO WS-INSPECTIONS
                       DISPLAY ACTION ' ' PERMIT-NO ' ' PARCEL-ID ' '
                           OWNER-NAME ' ' STATUS-CODE ' ' WS-FEE ' '
                           ISSUED-DATE ' ' WS-INSPECTIONS
               END-READ
           END-PERFORM
           CLOSE PERMIT-FILE
           DISPLAY 'READPERMITS: ' WS-COUNT ' records'
           STOP RUN.
